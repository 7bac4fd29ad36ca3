// Planned vs actual cost per task, and the run's cumulative spend against the same tries on on-demand.
import { cssVar, t, usd } from "./format";
import { Box, Flex, Text } from "./ui";

const W = 480;

export function CostPerTask({ view }) {
  const jobs = {};
  for (const p of view.placements) jobs[p.job_id] = { job: p.job_id, planned: p.planned_cost, actual: 0, od: 0, odKnown: true };
  for (const tr of view.tries) {
    const j = (jobs[tr.job_id] ||= { job: tr.job_id, planned: null, actual: 0, od: 0, odKnown: true });
    j.actual += tr.actual_cost || 0;
    if (tr.on_demand_cost === null || tr.on_demand_cost === undefined) j.odKnown = false;
    else j.od += tr.on_demand_cost;
  }
  const list = Object.values(jobs);
  if (!list.length) return null;
  const max = Math.max(1e-12, ...list.map((j) => Math.max(j.planned || 0, j.actual, j.od)));
  const row = 42;
  const label = 150;
  const h = list.length * row + 8;
  const bar = (v) => ((W - label - 70) * (v || 0)) / max;
  const series = [
    ["planned", "planned (expected)", cssVar("fg.muted")],
    ["actual", "actual (measured)", cssVar("green.500")],
    ["od", "same tries on on-demand", cssVar("blue.400")],
  ];
  return (
    <Box>
      <Legend items={series.map(([, l, c]) => [l, c])} />
      <svg data-testid="cost-per-task" viewBox={`0 0 ${W} ${h}`} width="100%" style={{ fontSize: 10 }}>
        {list.map((j, i) => (
          <g key={j.job}>
            <text x={2} y={i * row + 21} fill={cssVar("fg")}>{j.job.length > 22 ? j.job.slice(0, 21) + "…" : j.job}</text>
            {series.map(([k, , c], s) => (
              <g key={k}>
                <rect x={label} y={i * row + 3 + s * 12} width={Math.max(0.5, bar(j[k]))} height="9" fill={c}>
                  <title>{`${j.job}: ${k} ${usd(j[k])}`}</title>
                </rect>
                <text x={label + bar(j[k]) + 3} y={i * row + 11 + s * 12} fill={cssVar("fg.muted")}>
                  {k === "od" && !j.odKnown ? "–" : k === "planned" && j.planned === null ? "not planned" : usd(j[k])}
                </text>
              </g>
            ))}
          </g>
        ))}
      </svg>
    </Box>
  );
}

export function CumulativeSpend({ view }) {
  const tries = view.tries.filter((x) => x.actual_end).sort((a, b) => t(a.actual_end) - t(b.actual_end));
  if (!tries.length) return <Text color="fg.muted">No finished try yet.</Text>;
  const start = Math.min(...view.tries.filter((x) => x.actual_start).map((x) => t(x.actual_start).getTime()));
  const end = t(tries[tries.length - 1].actual_end).getTime();
  let a = 0;
  let o = 0;
  const pts = [{ at: start, a: 0, o: 0 }];
  for (const x of tries) {
    a += x.actual_cost || 0;
    o += x.on_demand_cost || 0;
    pts.push({ at: t(x.actual_end).getTime(), a, o });
  }
  const budget = view.summary && view.summary.budget_usd;
  const max = Math.max(1e-12, a, o, budget || 0);
  const H = 200;
  const L = 60;
  const X = (at) => L + ((at - start) / Math.max(1, end - start)) * (W - L - 10);
  const Y = (v) => H - 20 - (v / max) * (H - 40);
  const step = (k) => pts.map((p, i) => (i === 0 ? `M${X(p.at)},${Y(p[k])}` : `H${X(p.at)}V${Y(p[k])}`)).join("");
  return (
    <Box>
      <Legend items={[["actual spend", cssVar("green.500")], ["the same tries on on-demand", cssVar("blue.400")],
        ...(budget ? [["budget", cssVar("red.500")]] : [])]} />
      <svg data-testid="cumulative-spend" viewBox={`0 0 ${W} ${H}`} width="100%" style={{ fontSize: 10 }}>
        <line x1={L} x2={W - 10} y1={H - 20} y2={H - 20} stroke={cssVar("border")} />
        <line x1={L} x2={L} y1={10} y2={H - 20} stroke={cssVar("border")} />
        <text x={L - 4} y={Y(max) + 4} textAnchor="end" fill={cssVar("fg.muted")}>{usd(max)}</text>
        <text x={L - 4} y={H - 17} textAnchor="end" fill={cssVar("fg.muted")}>$0</text>
        <text x={L} y={H - 4} fill={cssVar("fg.muted")}>{new Date(start).toISOString().slice(11, 19)}</text>
        <text x={W - 10} y={H - 4} textAnchor="end" fill={cssVar("fg.muted")}>{new Date(end).toISOString().slice(11, 19)} UTC</text>
        {budget ? <line x1={L} x2={W - 10} y1={Y(budget)} y2={Y(budget)} stroke={cssVar("red.500")} strokeDasharray="4 3" /> : null}
        <path d={step("o")} fill="none" stroke={cssVar("blue.400")} strokeWidth="2" strokeDasharray="5 3" />
        <path d={step("a")} fill="none" stroke={cssVar("green.500")} strokeWidth="2.5" />
        <text x={W - 12} y={Y(a) - 4} textAnchor="end" fill={cssVar("green.600")}>{usd(a)}</text>
        <text x={W - 12} y={Y(o) - 4} textAnchor="end" fill={cssVar("blue.500")}>{usd(o)}</text>
      </svg>
    </Box>
  );
}

export function Legend({ items }) {
  return (
    <Flex gap="3" wrap="wrap" fontSize="xs" mb="1">
      {items.map(([label, colour]) => (
        <Flex key={label} align="center" gap="1">
          <Box w="10px" h="10px" borderRadius="2px" style={{ background: colour }} />
          <Text>{label}</Text>
        </Flex>
      ))}
    </Flex>
  );
}
