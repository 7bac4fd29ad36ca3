// The Pareto front of a run (POST .../pareto): the non-dominated plans of a weight sweep over its stored
// manifest, as a table and a small plot (cost × kg CO2e, risk or tardiness); picking a point puts its weights in the what-if form.
import { useState } from "react";

import { api, runPath } from "./api";
import { cssVar, usd } from "./format";
import { Box, Button, Flex, Input, Table, Text } from "./ui";

const W = 420;
const H = 220;
const L = 64;

// a criterion with d decimals, or two significant digits where d decimals would read 0 (as the CLI's table)
const num = (v, d) => (v !== 0 && Math.abs(v) < 0.5 * 10 ** -d ? v.toExponential(1) : v.toFixed(d));

// the criteria cost is traded against, as the plot's y axis: [key, label, decimals]
const AXES = [["co2e_kg", "kg CO2e", 4], ["risk", "risk", 3], ["tardiness_h", "tardiness h", 3]];

function FrontPlot({ points, picked, onPick }) {
  // y: the first criterion that differs between the points (kg CO2e, else risk, else tardiness); selectable
  const varies = AXES.filter(([k]) => new Set(points.map((p) => p[k])).size > 1);
  const [chosen, setChosen] = useState(null);
  const [key, yLabel, digits] = AXES.find(([k]) => k === chosen) || varies[0] || AXES[0];
  const yOf = (p) => p[key];
  const xs = points.map((p) => p.cost_usd);
  const ys = points.map(yOf);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const X = (v) => L + ((v - x0) / (x1 - x0 || 1)) * (W - L - 20);
  const Y = (v) => H - 30 - ((v - y0) / (y1 - y0 || 1)) * (H - 50);
  const fmtY = (v) => num(v, digits);
  return (
    <svg data-testid="pareto-plot" viewBox={`0 0 ${W} ${H}`} width="100%" style={{ fontSize: 10, maxWidth: W * 1.4 }}>
      <line x1={L} x2={W - 10} y1={H - 30} y2={H - 30} stroke={cssVar("border")} />
      <line x1={L} x2={L} y1={10} y2={H - 30} stroke={cssVar("border")} />
      <text x={L - 4} y={Y(y1) + 4} textAnchor="end" fill={cssVar("fg.muted")}>{fmtY(y1)}</text>
      {y1 > y0 && <text x={L - 4} y={Y(y0) + 4} textAnchor="end" fill={cssVar("fg.muted")}>{fmtY(y0)}</text>}
      <foreignObject x={0} y={0} width={L + 80} height={22}>
        <select value={key} onChange={(e) => setChosen(e.target.value)} data-testid="pareto-y"
          style={{ fontSize: 10, background: "transparent", color: "inherit", border: "none" }}>
          {AXES.map(([k, label]) => <option key={k} value={k}>{label}</option>)}
        </select>
      </foreignObject>
      <text x={X(x0)} y={H - 16} textAnchor="middle" fill={cssVar("fg.muted")}>{usd(x0)}</text>
      {x1 > x0 && <text x={X(x1)} y={H - 16} textAnchor="middle" fill={cssVar("fg.muted")}>{usd(x1)}</text>}
      <text x={(L + W) / 2} y={H - 3} textAnchor="middle" fill={cssVar("fg.muted")}>expected cost</text>
      <polyline fill="none" stroke={cssVar("fg.subtle")} strokeDasharray="3 3"
        points={points.map((p) => `${X(p.cost_usd)},${Y(yOf(p))}`).join(" ")} />
      {points.map((p, i) => (
        <g key={i} data-point={i + 1} style={{ cursor: "pointer" }} onClick={() => onPick(i)}>
          <circle cx={X(p.cost_usd)} cy={Y(yOf(p))} r={picked === i ? 7 : 5}
            fill={cssVar(picked === i ? "orange.500" : "green.500")} stroke={cssVar("fg")} strokeWidth="0.5">
            <title>{`#${i + 1}: ${usd(p.cost_usd)}, tardiness ${num(p.tardiness_h, 3)} h, risk ${num(p.risk, 3)}, ${num(p.co2e_kg, 4)} kg CO2e`}</title>
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
  // the weights tried per criterion; empty: the CLI's sweep (a cheap run may need larger ones to trade at all)
  const [sweep, setSweep] = useState({ tardiness: "", risk: "", carbon: "" });
  const sweepBody = () => Object.fromEntries(Object.entries(sweep).filter(([, v]) => v.trim())
    .map(([k, v]) => [k, v.split(",").map((x) => x.trim()).filter(Boolean).map(Number)]));
  const run = () => {
    setBusy(true);
    setFront(null);
    setPicked(null);
    const body = { ...fleets(), carbon: true, sweep: sweepBody(), ...(fleets().planner === "optimal" ? { time_limit_seconds: 0.5 } : {}) };
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
      <Flex gap="3" wrap="wrap" mt="1">
        {["tardiness", "risk", "carbon"].map((k) => (
          <Box key={k}>
            <Text fontSize="xs" color="fg.muted">{`w_${k} tried (comma-separated; empty: the default)`}</Text>
            <Input size="sm" w="220px" value={sweep[k]} placeholder={front ? front.sweep[k].join(", ") : "default"}
              onChange={(e) => setSweep({ ...sweep, [k]: e.target.value })} data-testid={`pareto-sweep-${k}`} />
          </Box>
        ))}
      </Flex>
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
                        <Table.Cell whiteSpace="nowrap">{num(p.tardiness_h, 3)}</Table.Cell>
                        <Table.Cell whiteSpace="nowrap">{num(p.risk, 3)}</Table.Cell>
                        <Table.Cell whiteSpace="nowrap">{num(p.co2e_kg, 4)}</Table.Cell>
                        <Table.Cell>
                          <Button size="xs" variant="outline" onClick={() => use(i)} data-testid="pareto-use">use</Button>
                        </Table.Cell>
                      </Table.Row>
                    ))}
                  </Table.Body>
                </Table.Root>
              </Box>
              <Box flex="1" minW="320px">
                <FrontPlot points={pts} picked={picked} onPick={use} />
              </Box>
            </Flex>
          )}
          <Text fontSize="xs" color="fg.muted" mt="1" data-testid="pareto-note">
            {pts.length} non-dominated plan(s) of {front.weightings} weightings ({front.planner}, w_cost = 1, {front.seconds.toFixed(1)} s).
            {" "}Risk: priority-weighted probability of a miss or an interruption, summed over tasks.
            {front.kept.jobs.length > 0 &&
              ` The run's last plan re-planned ${front.jobs.length} unfinished task(s); ${front.kept.jobs.length} keep their placements (${usd(front.kept.cost_usd)} expected), which these numbers leave out and the what-if adds.`}
            {pts.length === 1 && " Every weighting gave the same plan: try larger weights (a cheap run trades cost for risk only at large w_risk)."}
            {" "}Use a point to put its weights in the what-if. {front.note}.
          </Text>
        </Box>
      )}
    </Box>
  );
}
