// Links inside Airflow's UI (its router, so the page does not reload), relative to its base URL.
import * as Router from "react-router-dom";

import { Link as ChakraLink } from "./ui";

export const RUN_ROUTE = "ai-scheduler-run";
export const DAG_ROUTE = "ai-scheduler-dag";
const enc = encodeURIComponent;
export const runHref = (dagId, runId) => `/dags/${enc(dagId)}/runs/${enc(runId)}/plugin/${RUN_ROUTE}`;
export const dagHref = (dagId) => `/dags/${enc(dagId)}/plugin/${DAG_ROUTE}`;

export function AppLink({ to, children, ...rest }) {
  if (Router && Router.Link) {
    const RL = Router.Link;
    return <ChakraLink asChild color="fg.info" {...rest}><RL to={to}>{children}</RL></ChakraLink>;
  }
  return <a href={new URL(to.replace(/^\//, ""), document.baseURI).href} {...rest}>{children}</a>;
}
