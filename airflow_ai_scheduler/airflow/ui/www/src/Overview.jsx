// The top-level cost view: plans awaiting approval, recent runs of the DAGs you may read, the fleets.
import { useEffect, useState } from "react";

import { api } from "./api";
import { stamp, usd } from "./format";
import { RunsTable, Pager } from "./DagView";
import { DemandForecast } from "./ForecastChart";
import { AppLink, runHref } from "./links";
import { Loading, Section, Stat } from "./RunView";
import { Badge, Box, Heading, SimpleGrid, Table, Text } from "./ui";

export function Overview() {
  const [runs, setRuns] = useState(null);
  const [fleets, setFleets] = useState([]);
  const [approvals, setApprovals] = useState({ approvals: [] });
  const [error, setError] = useState(null);
  const [offset, setOffset] = useState(0);
  useEffect(() => { api(`runs?limit=50&offset=${offset}`).then(setRuns, setError); }, [offset]);
  useEffect(() => {
    api("fleets").then(setFleets, () => setFleets([]));
    api("approvals").then(setApprovals, () => {});
  }, []);
  if (!runs) return <Box p="4"><Loading error={error} /></Box>;
  const spent = runs.runs.reduce((a, r) => a + (r.actual_cost || 0), 0);
  const od = runs.runs.reduce((a, r) => a + (r.on_demand_cost || 0), 0);
  const exp = runs.runs.reduce((a, r) => a + (r.objective_cost || 0), 0);
  return (
    <Box p="4" data-testid="ai-scheduler-overview">
      <Heading size="lg" mb="1">AI Scheduler — what runs cost</Heading>
      <Text fontSize="sm" color="fg.muted" mb="3">
        The AI Scheduler plans each DAG run onto spot and on-demand fleets, routes its tasks there and records what each try cost. Open a run for its timeline and the reasons behind every placement.
      </Text>
      <SimpleGrid columns={{ base: 2, md: 4 }} gap="3" mb="4">
        <Stat label="Planned runs you can see" value={runs.total_entries} />
        <Stat label="Spent (runs below)" value={usd(spent)} />
        <Stat label="Their plans expected" value={usd(exp)} help={`all on-demand plans: ${usd(od)}`} />
        <Stat label="Plans awaiting approval" value={approvals.approvals.length} />
      </SimpleGrid>
      {approvals.approvals.length > 0 && (
        <Section title="Awaiting approval" hint="These runs' tasks wait until someone approves their plan.">
          <Table.Root size="sm" data-testid="approvals">
            <Table.Body>
              {approvals.approvals.map((a) => (
                <Table.Row key={`${a.dag_id}/${a.run_id}`}>
                  <Table.Cell><AppLink to={runHref(a.dag_id, a.run_id)}>{a.dag_id} / {a.run_id}</AppLink></Table.Cell>
                  <Table.Cell><Badge colorPalette="orange">{a.state}</Badge></Table.Cell>
                  <Table.Cell>{a.reason}</Table.Cell>
                  <Table.Cell>{stamp(a.requested_at)}</Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table.Root>
        </Section>
      )}
      <Section title="Recent runs">
        {runs.runs.length ? <RunsTable runs={runs.runs} showDag /> : <Text color="fg.muted">No planned run yet: trigger a DAG that runs on the AI Scheduler executor.</Text>}
        <Pager offset={offset} total={runs.total_entries} setOffset={setOffset} />
      </Section>
      <Section title="Demand forecast" hint="Busy slots per fleet: what happened against the forecast band, and the next 24 hours.">
        <DemandForecast />
      </Section>
      <Section title="Fleets" hint="Where tasks can run: price per slot-hour and the expected spot interruptions per hour (λ).">
        <Table.Root size="sm" data-testid="fleets">
          <Table.Header>
            <Table.Row>{["fleet", "tier", "where", "slots", "backend", "$/h", "λ/h"].map((h) => <Table.ColumnHeader key={h}>{h}</Table.ColumnHeader>)}</Table.Row>
          </Table.Header>
          <Table.Body>
            {fleets.map((f) => (
              <Table.Row key={f.name}>
                <Table.Cell>{f.name}</Table.Cell>
                <Table.Cell><Badge colorPalette={f.tier === "spot" ? "green" : "blue"}>{f.tier}</Badge></Table.Cell>
                <Table.Cell>{f.provider}:{f.region} {f.instance_type}</Table.Cell>
                <Table.Cell>{f.slots}</Table.Cell>
                <Table.Cell>{f.backend}</Table.Cell>
                <Table.Cell>{usd(f.price_per_hour, 4)}</Table.Cell>
                <Table.Cell>{f.interruption_rate_per_hour.toFixed(4)}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table.Root>
      </Section>
    </Box>
  );
}
