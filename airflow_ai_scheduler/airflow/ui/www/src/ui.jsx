// Chakra UI components of Airflow's own UI (globalThis.ChakraUI), with plain fallbacks.
import * as C from "@chakra-ui/react";

const plain = (tag) => (props) => {
  const { children, ...rest } = props;
  const safe = Object.fromEntries(Object.entries(rest).filter(([k]) => /^(id|className|style|href|onClick|title|data-|aria-|type|value|onChange|checked|disabled|name|placeholder|min|max|step)/.test(k)));
  const El = tag;
  return <El {...safe}>{children}</El>;
};
const pick = (name, tag = "div") => (C && C[name]) || plain(tag);
const part = (ns, name, tag) => (C && C[ns] && C[ns][name]) || plain(tag);

export const Box = pick("Box");
export const Flex = pick("Flex");
export const HStack = pick("HStack");
export const VStack = pick("VStack");
export const SimpleGrid = pick("SimpleGrid");
export const Heading = pick("Heading", "h3");
export const Text = pick("Text", "p");
export const Badge = pick("Badge", "span");
export const Button = pick("Button", "button");
export const Input = pick("Input", "input");
export const Spinner = pick("Spinner", "span");
export const Code = pick("Code", "code");
export const Link = pick("Link", "a");
export const Table = {
  Root: part("Table", "Root", "table"),
  Header: part("Table", "Header", "thead"),
  Body: part("Table", "Body", "tbody"),
  Row: part("Table", "Row", "tr"),
  ColumnHeader: part("Table", "ColumnHeader", "th"),
  Cell: part("Table", "Cell", "td"),
};
