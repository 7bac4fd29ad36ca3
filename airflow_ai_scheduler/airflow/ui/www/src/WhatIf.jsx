// What-if re-planning: the same run planned with other weights, fleets or planner, side by side.
import { useState } from "react";

import { api, runPath } from "./api";
import { approveWhatIf } from "./Approval";
import { ParetoFront } from "./Pareto";
import { pct, statusText, usd } from "./format";
import { Section } from "./RunView";
import { Box, Button, Flex, Input, SimpleGrid, Table, Text } from "./ui";

const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

export function WhatIf({ view, onApplied, onNextRun }) {
  const [form, setForm] = useState({ planner: "greedy", cost: "1", tardiness: "10", risk: "1", carbon: "", spot: true, od: true, providers: "", regions: "" });
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === "checkbox" ? e.target.checked : e.target.value });
  const fleets = (f = form) => ({
    planner: f.planner,
    tiers: [f.spot && "spot", f.od && "on-demand"].filter(Boolean),
    providers: list(f.providers).length ? list(f.providers) : null,
    regions: list(f.regions).length ? list(f.regions) : null,
  });
  const request = (f = form) => ({
    ...fleets(f),
    // an empty w_carbon keeps the run's
    weights: { cost: Number(f.cost), tardiness: Number(f.tardiness), risk: Number(f.risk), ...(f.carbon.trim() ? { carbon: Number(f.carbon) } : {}) },
  });
  const run = (f = form) => {
    setBusy(true);
    setResult(null); // never offer to apply a result the form no longer describes
    api(`${runPath(view.dag_id, view.run_id)}/what-if`, { method: "POST", body: request(f) })
      .then((r) => { setResult(r); setError(null); }, setError)
      .finally(() => setBusy(false));
  };
  const usePoint = (p) => { // a point of the Pareto front: its weights in the form, and its plan side by side
    const f = { ...form, cost: String(p.w_cost), tardiness: String(p.w_tardiness), risk: String(p.w_risk), carbon: String(p.w_carbon) };
    setForm(f);
    run(f);
  };
  const pending = view.approval && view.approval.state === "pending";
  const field = (k, label, w = "90px") => (
    <Box><Text fontSize="xs" color="fg.muted">{label}</Text><Input size="sm" w={w} value={form[k]} onChange={set(k)} data-testid={`whatif-${k}`} /></Box>
  );
  return (
    <Section id="what-if" title="What if" hint="Plan this run again with other weights, fleets or planner and compare. Nothing changes for the run unless its plan awaits approval and you approve the new one.">
      <Flex gap="3" wrap="wrap" align="end" mb="3">
        <Box>
          <Text fontSize="xs" color="fg.muted">planner</Text>
          <select value={form.planner} onChange={set("planner")} data-testid="whatif-planner" style={{ padding: "4px", background: "transparent", color: "inherit", border: "1px solid var(--chakra-colors-border)", borderRadius: 4 }}>
            <option value="greedy">greedy (fast)</option>
            <option value="optimal">optimal (CP-SAT, ≤ 5 s)</option>
          </select>
        </Box>
        {field("cost", "weight: cost (per $)")}
        {field("tardiness", "weight: tardiness (per h late)")}
        {field("risk", "weight: risk")}
        {field("carbon", "weight: carbon ($/kg CO2e; empty: the run's)", "110px")}
        <Box fontSize="sm">
          <label><input type="checkbox" checked={form.spot} onChange={set("spot")} data-testid="whatif-spot" /> spot</label>{" "}
          <label><input type="checkbox" checked={form.od} onChange={set("od")} data-testid="whatif-od" /> on-demand</label>
        </Box>
        {field("providers", "providers (comma-separated)", "160px")}
        {field("regions", "regions", "160px")}
        <Button size="sm" onClick={() => run()} disabled={busy} data-testid="whatif-run">{busy ? "planning…" : "Re-plan"}</Button>
      </Flex>
      <ParetoFront view={view} fleets={fleets} onUse={usePoint} />
      {error && <Text color="fg.error" fontSize="sm" data-testid="whatif-error">{error.message}</Text>}
      {result && (
        <Box data-testid="whatif-result">
          <SimpleGrid columns={{ base: 1, md: 2 }} gap="4">
            <Table.Root size="sm">
              <Table.Header><Table.Row><Table.ColumnHeader /><Table.ColumnHeader>current plan</Table.ColumnHeader><Table.ColumnHeader>what if</Table.ColumnHeader></Table.Row></Table.Header>
              <Table.Body>
                {[["planner", (x) => `${x.planner} — ${statusText(x.status)}`], ["expected cost", (x) => usd(x.cost)],
                  ["cheaper than all on-demand", (x) => pct(x.saving_pct)], ["tardiness (weighted h)", (x) => x.tardiness_hours.toFixed(3)],
                  ["risk (weighted)", (x) => x.risk.toFixed(3)], ["emissions (kg CO2e)", (x) => x.co2e_kg.toFixed(4)],
                  ["Ω objective", (x) => x.objective.toFixed(4)],
                  ["tasks with a violation", (x) => (x.late_jobs.length ? x.late_jobs.join(", ") : "none")]].map(([k, f]) => (
                  <Table.Row key={k}><Table.Cell>{k}</Table.Cell><Table.Cell>{f(result.current)}</Table.Cell><Table.Cell data-testid={k === "expected cost" ? "whatif-cost" : undefined}>{f(result.what_if)}</Table.Cell></Table.Row>
                ))}
              </Table.Body>
            </Table.Root>
            <Table.Root size="sm" data-testid="whatif-placements">
              <Table.Header><Table.Row><Table.ColumnHeader>task</Table.ColumnHeader><Table.ColumnHeader>current fleet</Table.ColumnHeader><Table.ColumnHeader>what-if fleet</Table.ColumnHeader><Table.ColumnHeader>what-if $</Table.ColumnHeader></Table.Row></Table.Header>
              <Table.Body>
                {result.what_if.placements.map((p) => {
                  const cur = result.current.placements.find((c) => c.job_id === p.job_id);
                  const moved = cur && cur.fleet !== p.fleet;
                  return (
                    <Table.Row key={p.job_id} data-moved={moved ? "1" : "0"}>
                      <Table.Cell>{p.job_id}</Table.Cell><Table.Cell>{cur ? cur.fleet : "–"}</Table.Cell>
                      <Table.Cell fontWeight={moved ? "bold" : undefined}>{p.fleet}{moved ? " ←" : ""}</Table.Cell><Table.Cell>{usd(p.planned_cost)}</Table.Cell>
                    </Table.Row>
                  );
                })}
              </Table.Body>
            </Table.Root>
          </SimpleGrid>
          <Text fontSize="xs" color="fg.muted" mt="1">{result.changes.length} task(s) on another fleet. {result.note}.</Text>
          <Button mt="2" mr="2" size="sm" variant="outline" data-testid="whatif-next-run"
            onClick={() => api(`dags/${encodeURIComponent(view.dag_id)}/next-run`, { method: "PUT", body: request() }).then(onNextRun, setError)}>
            Use these settings for the next run of {view.dag_id}
          </Button>
          {pending && (
            <Button mt="2" size="sm" colorPalette="green" data-testid="whatif-approve"
              onClick={() => approveWhatIf(view, request(), "approved the what-if plan").then(onApplied, setError)}>
              Approve this plan instead
            </Button>
          )}
        </Box>
      )}
    </Section>
  );
}
