// A DAG run's "Cost plan" tab: where each task ran, when, what it cost and why.
import { useCallback, useEffect, useState } from "react";

import { api, runPath } from "./api";
import { Approval } from "./Approval";
import { CostPerTask, CumulativeSpend } from "./CostChart";
import { clock, cssVar, fleetColours, pct, secs, stamp, statusText, usd } from "./format";
import { LlmExchange } from "./LlmExchange";
import { NextRun, useNextRun } from "./NextRun";
import { Timeline } from "./Timeline";
import { Badge, Box, Flex, Heading, SimpleGrid, Spinner, Table, Text } from "./ui";
import { WhatIf } from "./WhatIf";

export function Section({ title, children, hint, id }) {
  return (
    <Box as="section" id={id} borderWidth="1px" borderColor="border" borderRadius="md" p="4" mb="4" bg="bg">
      <Heading size="md" mb={hint ? 0 : 2}>{title}</Heading>
      {hint && <Text fontSize="sm" color="fg.muted" mb="2">{hint}</Text>}
      {children}
    </Box>
  );
}

export function Stat({ label, value, help, testid }) {
  return (
    <Box borderWidth="1px" borderColor="border" borderRadius="md" p="3">
      <Text fontSize="xs" color="fg.muted">{label}</Text>
      <Text fontSize="xl" fontWeight="bold" data-testid={testid}>{value}</Text>
      {help && <Text fontSize="xs" color="fg.muted">{help}</Text>}
    </Box>
  );
}

export function Loading({ error }) {
  if (error) return <Text color="fg.error" data-testid="error">{String(error.message || error)}</Text>;
  return <Spinner />;
}

const tierBadge = (tier) => (tier ? <Badge colorPalette={tier === "spot" ? "green" : "blue"}>{tier}</Badge> : "–");
const outcomeBadge = (o) => (
  <Badge colorPalette={o === "success" ? "green" : o === "preempted" ? "orange" : o === "failed" || o === "upstream_failed" ? "red" : "gray"}>{o}</Badge>
);

export function RunView({ dagId, runId }) {
  const [view, setView] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => api(runPath(dagId, runId)).then(setView, setError), [dagId, runId]);
  const [next, reloadNext] = useNextRun(dagId);
  useEffect(() => {
    load();
    const timer = setInterval(load, 15000);
    return () => clearInterval(timer);
  }, [load]);
  if (!view) {
    if (error && error.status === 404)
      return <Box p="4"><Text>No plan for this run: it did not run with the AI Scheduler executor, or its plan is still being made.</Text></Box>;
    return <Box p="4"><Loading error={error} /></Box>;
  }
  const s = view.summary;
  const plan = view.plan;
  const carbon = view.tries.some((x) => Object.keys(x).some((k) => k.includes("carbon") || k.includes("co2")));
  const speed = s.runtime_seconds && view.placements.length ? ratio(view) : null;
  return (
    <Box p="2" data-testid="ai-scheduler-run">
      <Approval view={view} onChange={load} />
      <NextRun dagId={dagId} next={next} reload={reloadNext} />
      <SimpleGrid columns={{ base: 2, md: 4 }} gap="3" mb="4">
        <Stat testid="actual-cost" label="Spent (measured runtime × price at launch)" value={usd(s.actual_cost)}
          help={`${s.tries} tr${s.tries === 1 ? "y" : "ies"}, ${s.preemptions} preempted, ${secs(s.runtime_seconds)} of compute`} />
        <Stat testid="actual-on-demand" label="The same tries on on-demand" value={usd(s.actual_on_demand_cost)}
          help={s.actual_saving_pct === null ? "no on-demand price known for a machine used" : `saved ${usd(s.actual_saving)} (${pct(s.actual_saving_pct)})`} />
        <Stat testid="planned-cost" label="Plan: expected cost" value={usd(s.planned_cost)}
          help={s.on_demand_planned_cost ? `all on-demand plan ${usd(s.on_demand_planned_cost)} → ${pct(s.planned_saving_pct)} cheaper` : "no all-on-demand reference"} />
        <Stat label="Planner" value={plan ? plan.planner : "–"}
          help={plan ? `${statusText(plan.status)} · made ${stamp(plan.created_at)} · prices as of ${view.catalog_as_of || "fleet config"}` : ""} />
      </SimpleGrid>
      {speed && <Text fontSize="sm" color="fg.muted" mb="3" data-testid="speed-note">{speed}</Text>}
      <Section title="Timeline" hint="Each task: its planned window (hatched, top) and each try as it ran (solid, below), coloured by fleet — greens are spot, blues on-demand. ★ marks the critical path, ✕ a preempted try, ↻ its relaunch. Hover a bar for why and what it cost.">
        <Timeline view={view} />
        <FleetKey view={view} />
      </Section>
      <SimpleGrid columns={{ base: 1, lg: 2 }} gap="4">
        <Section title="Cost per task" hint="What the plan expected, what the tries cost, and what the same tries would have cost on on-demand.">
          <CostPerTask view={view} />
        </Section>
        <Section title="Cumulative spend" hint="Money spent as tries finished, against the same tries at on-demand prices.">
          <CumulativeSpend view={view} />
        </Section>
      </SimpleGrid>
      <Section title="What ran" hint="In the order the tries started. A relaunch after a preemption keeps its Airflow try number and gets the next attempt.">
        <Table.Root size="sm" data-testid="tries">
          <Table.Header>
            <Table.Row>
              {["task", "try", "fleet", "tier", "outcome", "start", "end", "ran", "cost", "on-demand", ...(carbon ? ["kg CO2e"] : [])].map((h) => <Table.ColumnHeader key={h}>{h}</Table.ColumnHeader>)}
            </Table.Row>
          </Table.Header>
          <Table.Body>
            {view.tries.map((x) => (
              <Table.Row key={`${x.job_id}-${x.try_number}-${x.attempt}`}>
                <Table.Cell>{x.job_id}</Table.Cell>
                <Table.Cell>{x.relaunch ? "↻ " : ""}{x.label}</Table.Cell>
                <Table.Cell>{x.fleet || "–"}{x.planned_fleet && x.fleet && x.planned_fleet !== x.fleet ? ` (planned ${x.planned_fleet})` : ""}</Table.Cell>
                <Table.Cell>{tierBadge(x.tier)}</Table.Cell>
                <Table.Cell>{outcomeBadge(x.outcome)}</Table.Cell>
                <Table.Cell>{clock(x.actual_start)}</Table.Cell>
                <Table.Cell>{clock(x.actual_end)}</Table.Cell>
                <Table.Cell>{secs(x.runtime_seconds)}</Table.Cell>
                <Table.Cell>{usd(x.actual_cost)}</Table.Cell>
                <Table.Cell>{usd(x.on_demand_cost)}</Table.Cell>
                {carbon && <Table.Cell>{carbonOf(x)}</Table.Cell>}
              </Table.Row>
            ))}
          </Table.Body>
        </Table.Root>
      </Section>
      <Section title="The plan" hint={plan ? `Ω ${plan.objective.total.toFixed(4)} = cost ${usd(plan.objective.cost)} + tardiness ${plan.objective.tardiness_hours.toFixed(3)} h (weighted) + risk ${plan.objective.risk.toFixed(3)} (weighted); planned in ${plan.planning_seconds.toFixed(2)} s.${plan.notes.length ? " " + plan.notes.join("; ") : ""}` : ""}>
        <Table.Root size="sm" data-testid="placements">
          <Table.Header>
            <Table.Row>
              {["task", "fleet", "tier", "where", "start", "expected end", "expected $", "why"].map((h) => <Table.ColumnHeader key={h}>{h}</Table.ColumnHeader>)}
            </Table.Row>
          </Table.Header>
          <Table.Body>
            {view.placements.map((p) => (
              <Table.Row key={p.job_id}>
                <Table.Cell fontWeight={p.critical ? "bold" : undefined}>{p.job_id}{p.critical ? " ★" : ""}</Table.Cell>
                <Table.Cell>{p.fleet}</Table.Cell>
                <Table.Cell>{tierBadge(p.tier)}</Table.Cell>
                <Table.Cell>{p.provider}:{p.region} {p.instance_type}</Table.Cell>
                <Table.Cell>{clock(p.planned_start)}</Table.Cell>
                <Table.Cell>{clock(p.planned_end)}</Table.Cell>
                <Table.Cell>{usd(p.planned_cost)}</Table.Cell>
                <Table.Cell fontSize="xs" maxW="420px">{p.rationale}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table.Root>
      </Section>
      <WhatIf view={view} onApplied={load} onNextRun={reloadNext} />
      {view.llm && <LlmExchange view={view} />}
      <Section title="Key" hint="What every mark and word on this page means.">
        <SimpleGrid columns={{ base: 1, md: 2 }} gap="1" fontSize="sm" data-testid="legend">
          {Object.entries(view.legend).map(([k, v]) => (
            <Flex key={k} gap="2"><Text fontWeight="bold" minW="120px">{k}</Text><Text color="fg.muted">{v}</Text></Flex>
          ))}
        </SimpleGrid>
      </Section>
    </Box>
  );
}

function carbonOf(x) {
  const k = Object.keys(x).find((k) => k.includes("carbon") || k.includes("co2"));
  return k && x[k] !== null ? Number(x[k]).toFixed(4) : "–";
}

function ratio(view) {
  const planned = {};
  for (const p of view.placements) planned[p.job_id] = (new Date(p.planned_end) - new Date(p.planned_start)) / 1000;
  let ps = 0;
  let as = 0;
  for (const x of view.tries) {
    if (x.outcome !== "success" || !planned[x.job_id]) continue;
    ps += planned[x.job_id];
    as += x.runtime_seconds;
  }
  if (!ps || !as) return null;
  const r = ps / as;
  if (r > 3) return `The tasks ran about ${r.toFixed(0)}× faster than the plan expected (its durations come from the tasks' hints or their history), so the planned costs are larger than what was spent.`;
  if (r < 1 / 3) return `The tasks ran about ${(1 / r).toFixed(0)}× longer than the plan expected.`;
  return null;
}

function FleetKey({ view }) {
  const fleets = {};
  for (const x of [...view.placements, ...view.tries]) if (x.fleet) fleets[x.fleet] = x;
  const colours = fleetColours(Object.values(fleets));
  return (
    <Flex gap="4" wrap="wrap" fontSize="xs" mt="2" data-testid="fleet-key">
      {Object.values(fleets).map((f) => (
        <Flex key={f.fleet} align="center" gap="1">
          <Box w="12px" h="12px" borderRadius="2px" style={{ background: cssVar(colours[f.fleet].token) }} />
          <Text>{f.fleet}: {f.tier}, {f.provider}:{f.region} {f.instance_type}</Text>
        </Flex>
      ))}
    </Flex>
  );
}
