// A DAG's "Costs" tab: its planned runs (planned vs actual) and every recorded try.
import { useEffect, useState } from "react";

import { api, enc } from "./api";
import { clock, secs, stamp, statusText, usd } from "./format";
import { AppLink, runHref } from "./links";
import { NextRun, useNextRun } from "./NextRun";
import { Loading, Section, Stat } from "./RunView";
import { Badge, Box, Button, Flex, SimpleGrid, Table, Text } from "./ui";

const PAGE = 50;

export function RunsTable({ runs, showDag }) {
  return (
    <Table.Root size="sm" data-testid="runs">
      <Table.Header>
        <Table.Row>
          {[...(showDag ? ["DAG"] : []), "run", "planned", "planner", "expected $", "all on-demand plan $", "spent $"].map((h) => <Table.ColumnHeader key={h}>{h}</Table.ColumnHeader>)}
        </Table.Row>
      </Table.Header>
      <Table.Body>
        {runs.map((r) => (
          <Table.Row key={`${r.dag_id}/${r.run_id}`}>
            {showDag && <Table.Cell>{r.dag_id}</Table.Cell>}
            <Table.Cell><AppLink to={runHref(r.dag_id, r.run_id)}>{r.run_id}</AppLink></Table.Cell>
            <Table.Cell>{stamp(r.created_at)}</Table.Cell>
            <Table.Cell>{r.planner} <Text as="span" color="fg.muted" fontSize="xs">— {statusText(r.status)}</Text></Table.Cell>
            <Table.Cell>{usd(r.objective_cost)}</Table.Cell>
            <Table.Cell>{usd(r.on_demand_cost)}</Table.Cell>
            <Table.Cell>{usd(r.actual_cost)}</Table.Cell>
          </Table.Row>
        ))}
      </Table.Body>
    </Table.Root>
  );
}

export function Pager({ offset, total, setOffset }) {
  if (total <= PAGE) return null;
  return (
    <Flex gap="2" align="center" mt="2" fontSize="sm">
      <Button size="xs" variant="outline" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>previous</Button>
      <Text>{offset + 1}–{Math.min(total, offset + PAGE)} of {total}</Text>
      <Button size="xs" variant="outline" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>next</Button>
    </Flex>
  );
}

export function DagView({ dagId }) {
  const [runs, setRuns] = useState(null);
  const [hist, setHist] = useState(null);
  const [error, setError] = useState(null);
  const [offset, setOffset] = useState(0);
  const [hOffset, setHOffset] = useState(0);
  const [next, reloadNext] = useNextRun(dagId);
  useEffect(() => { api(`runs?dag_id=${enc(dagId)}&limit=${PAGE}&offset=${offset}`).then(setRuns, setError); }, [dagId, offset]);
  useEffect(() => { api(`history/${enc(dagId)}?limit=${PAGE}&offset=${hOffset}`).then(setHist, setError); }, [dagId, hOffset]);
  if (!runs || !hist) return <Box p="4"><Loading error={error} /></Box>;
  const spent = runs.runs.reduce((a, r) => a + (r.actual_cost || 0), 0);
  const expected = runs.runs.reduce((a, r) => a + (r.objective_cost || 0), 0);
  return (
    <Box p="2" data-testid="ai-scheduler-dag">
      <NextRun dagId={dagId} next={next} reload={reloadNext} />
      <SimpleGrid columns={{ base: 2, md: 3 }} gap="3" mb="4">
        <Stat label="Planned runs" value={runs.total_entries} />
        <Stat label="Spent (runs on this page)" value={usd(spent)} />
        <Stat label="Expected by their plans" value={usd(expected)} />
      </SimpleGrid>
      <Section title="Runs" hint="Open a run for its timeline, costs and the reasons behind each placement.">
        {runs.runs.length ? <RunsTable runs={runs.runs} /> : <Text color="fg.muted">No planned run of this DAG yet.</Text>}
        <Pager offset={offset} total={runs.total_entries} setOffset={setOffset} />
      </Section>
      <Section title="Recorded tries" hint="Newest first: where each try ran and what it cost.">
        <Table.Root size="sm" data-testid="history">
          <Table.Header>
            <Table.Row>
              {["run", "task", "try", "fleet", "tier", "outcome", "start", "ran", "$/h", "cost"].map((h) => <Table.ColumnHeader key={h}>{h}</Table.ColumnHeader>)}
            </Table.Row>
          </Table.Header>
          <Table.Body>
            {hist.history.map((r, i) => (
              <Table.Row key={i}>
                <Table.Cell><AppLink to={runHref(dagId, r.run_id)}>{r.run_id}</AppLink></Table.Cell>
                <Table.Cell>{r.map_index >= 0 ? `${r.task_id}[${r.map_index}]` : r.task_id}</Table.Cell>
                <Table.Cell>{r.try_number}</Table.Cell>
                <Table.Cell>{r.fleet || "–"}</Table.Cell>
                <Table.Cell>{r.tier ? <Badge colorPalette={r.tier === "spot" ? "green" : "blue"}>{r.tier}</Badge> : "–"}</Table.Cell>
                <Table.Cell>{r.outcome}</Table.Cell>
                <Table.Cell>{r.actual_start ? `${r.actual_start.slice(0, 10)} ${clock(r.actual_start)}` : "–"}</Table.Cell>
                <Table.Cell>{secs(r.runtime_seconds)}</Table.Cell>
                <Table.Cell>{usd(r.price_per_hour_at_launch, 4)}</Table.Cell>
                <Table.Cell>{usd(r.actual_cost)}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table.Root>
        <Pager offset={hOffset} total={hist.total_entries} setOffset={setHOffset} />
      </Section>
    </Box>
  );
}
