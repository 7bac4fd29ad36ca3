// The plugin's entry: Airflow's UI imports this module and renders globalThis[<react app name>] with the
// route's dagId / runId. One component serves the three views it registers.
import { DagView } from "./DagView";
import { Overview } from "./Overview";
import { RunView } from "./RunView";

function AiScheduler({ dagId, runId }) {
  if (dagId && runId) return <RunView dagId={dagId} runId={runId} />;
  if (dagId) return <DagView dagId={dagId} />;
  return <Overview />;
}

// the names in plugin.py's react_apps: the module is imported once, so every name is set here
for (const name of ["AI Scheduler", "Cost plan", "Costs"]) globalThis[name] = AiScheduler;
globalThis.AirflowPlugin = AiScheduler;
