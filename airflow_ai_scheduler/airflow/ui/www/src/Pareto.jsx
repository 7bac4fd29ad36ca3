// The Pareto front of a run (POST .../pareto): the non-dominated plans of a weight sweep over its stored
// manifest, as a table and a small cost × kg CO2e plot; picking a point puts its weights in the what-if form.
import { useState } from "react";

import { api, runPath } from "./api";
import { cssVar, usd } from "./format";
import { Box, Button, Flex, Table, Text } from "./ui";

const W = 420;
const H = 220;
const L = 64;

function FrontPlot({ points, carbon, picked, onPick }) {
  // y: kg CO2e when carbon is a criterion, else tardiness + risk (the criteria cost is traded against)
  const yOf = (p) => (carbon ? p.co2e_kg : p.tardiness_h + p.risk);
  const xs = points.map((p) => p.cost_usd);
  const ys = points.map(yOf);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const X = (v) => L + ((v - x0) / (x1 - x0 || 1)) * (W - L - 20);
  const Y = (v) => H - 30 - ((v - y0) / (y1 - y0 || 1)) * (H - 50);
  const yLabel = carbon ? "kg CO2e" : "tardiness h + risk";
  const fmtY = (v) => v.toFixed(carbon ? 4 : 3);
  return (
    <svg data-testid="pareto-plot" viewBox={`0 0 ${W} ${H}`} width="100%" style={{ fontSize: 10, maxWidth: W * 1.4 }}>
      <line x1={L} x2={W - 10} y1={H - 30} y2={H - 30} stroke={cssVar("border")} />
      <line x1={L} x2={L} y1={10} y2={H - 30} stroke={cssVar("border")} />
      <text x={L - 4} y={Y(y1) + 4} textAnchor="end" fill={cssVar("fg.muted")}>{fmtY(y1)}</text>
      <text x={L - 4} y={Y(y0) + 4} textAnchor="end" fill={cssVar("fg.muted")}>{fmtY(y0)}</text>
      <text x={4} y={14} fill={cssVar("fg.muted")}>{yLabel}</text>
      <text x={X(x0)} y={H - 16} textAnchor="middle" fill={cssVar("fg.muted")}>{usd(x0)}</text>
      {x1 > x0 && <text x={X(x1)} y={H - 16} textAnchor="middle" fill={cssVar("fg.muted")}>{usd(x1)}</text>}
      <text x={(L + W) / 2} y={H - 3} textAnchor="middle" fill={cssVar("fg.muted")}>expected cost</text>
      <polyline fill="none" stroke={cssVar("fg.subtle")} strokeDasharray="3 3"
        points={points.map((p) => `${X(p.cost_usd)},${Y(yOf(p))}`).join(" ")} />
      {points.map((p, i) => (
        <g key={i} data-point={i + 1} style={{ cursor: "pointer" }} onClick={() => onPick(i)}>
          <circle cx={X(p.cost_usd)} cy={Y(yOf(p))} r={picked === i ? 7 : 5}
            fill={cssVar(picked === i ? "orange.500" : "green.500")} stroke={cssVar("fg")} strokeWidth="0.5">
            <title>{`#${i + 1}: ${usd(p.cost_usd)}, tardiness ${p.tardiness_h.toFixed(3)} h, risk ${p.risk.toFixed(3)}, ${p.co2e_kg.toFixed(4)} kg CO2e`}</title>
          </circle>
          <text x={X(p.cost_usd) + 7} y={Y(yOf(p)) - 6} fill={cssVar("fg")}>{i + 1}</text>
        </g>
      ))}
    </svg>
  );
}

export function ParetoFront({ view, fleets, onUse }) {
  const [front, setFront] = useState(null);
  const [picked, setPicked] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = () => {
    setBusy(true);
    setFront(null);
    setPicked(null);
    const body = { ...fleets(), carbon: true, ...(fleets().planner === "optimal" ? { time_limit_seconds: 0.5 } : {}) };
    api(`${runPath(view.dag_id, view.run_id)}/pareto`, { method: "POST", body })
      .then((r) => { setFront(r); setError(null); }, setError)
      .finally(() => setBusy(false));
  };
  const use = (i) => {
    setPicked(i);
    onUse(front.points[i]);
  };
  const pts = front ? front.points : [];
  return (
    <Box mt="2">
      <Button size="sm" variant="outline" onClick={run} disabled={busy} data-testid="pareto-run">
        {busy ? "sweeping weights…" : "Pareto front"}
      </Button>
      <Text as="span" fontSize="xs" color="fg.muted" ml="2">the plans no other plan beats on cost, tardiness, risk and carbon at once (as <code>ai-scheduler plan --pareto</code>)</Text>
      {error && <Text color="fg.error" fontSize="sm" data-testid="pareto-error">{error.message}</Text>}
      {front && (
        <Box data-testid="pareto" mt="2">
          {!pts.length ? (
            <Text fontSize="sm">No valid plan under these settings.</Text>
          ) : (
            <Flex gap="4" wrap="wrap" align="start">
              <Box flex="1" minW="480px">
                <Table.Root size="sm" data-testid="pareto-table">
                  <Table.Header>
                    <Table.Row>
                      {["#", "w tardiness", "w risk", "w carbon $/kg", "expected cost", "tardiness h", "risk", "kg CO2e", ""].map((h) => (
                        <Table.ColumnHeader key={h}>{h}</Table.ColumnHeader>
                      ))}
                    </Table.Row>
                  </Table.Header>
                  <Table.Body>
                    {pts.map((p, i) => (
                      <Table.Row key={i} data-testid="pareto-row" data-cost={p.cost_usd} data-picked={picked === i ? "1" : "0"}
                        style={picked === i ? { fontWeight: "bold" } : undefined}>
                        <Table.Cell>{i + 1}</Table.Cell>
                        <Table.Cell>{p.w_tardiness}</Table.Cell>
                        <Table.Cell>{p.w_risk}</Table.Cell>
                        <Table.Cell>{p.w_carbon}</Table.Cell>
                        <Table.Cell>{usd(p.cost_usd)}</Table.Cell>
                        <Table.Cell>{p.tardiness_h.toFixed(3)}</Table.Cell>
                        <Table.Cell>{p.risk.toFixed(3)}</Table.Cell>
                        <Table.Cell>{p.co2e_kg.toFixed(4)}</Table.Cell>
                        <Table.Cell>
                          <Button size="xs" variant="outline" onClick={() => use(i)} data-testid="pareto-use">use</Button>
                        </Table.Cell>
                      </Table.Row>
                    ))}
                  </Table.Body>
                </Table.Root>
              </Box>
              <Box flex="1" minW="320px">
                <FrontPlot points={pts} carbon={front.carbon} picked={picked} onPick={use} />
              </Box>
            </Flex>
          )}
          <Text fontSize="xs" color="fg.muted" mt="1" data-testid="pareto-note">
            {pts.length} non-dominated plan(s) of {front.weightings} weightings ({front.planner}, w_cost = 1, {front.seconds.toFixed(1)} s).
            {" "}Risk: priority-weighted probability of a miss or an interruption, summed over tasks.
            {front.kept.jobs.length > 0 &&
              ` The run's last plan re-planned ${front.jobs.length} unfinished task(s); ${front.kept.jobs.length} keep their placements (${usd(front.kept.cost_usd)} expected), which these numbers leave out and the what-if adds.`}
            {" "}Use a point to put its weights in the what-if. {front.note}.
          </Text>
        </Box>
      )}
    </Box>
  );
}
