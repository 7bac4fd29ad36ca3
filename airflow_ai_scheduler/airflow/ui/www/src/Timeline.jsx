// The run's Gantt: per task, the planned window (hatched) above the tries as they ran (solid).
import { useState } from "react";

import { clock, cssVar, fleetColours, secs, t, usd } from "./format";
import { Box, Button, Flex, Text } from "./ui";

const ROW = 34;
const LABEL = 190;
const WIDTH = 1000;
const AXIS = 26;

function ticks(t0, t1, n = 6) {
  const span = t1 - t0;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const step = (steps.find((s) => span / 1000 / s <= n) || 86400) * 1000;
  const out = [];
  for (let x = Math.ceil(t0 / step) * step; x <= t1; x += step) out.push(x);
  return out;
}

export function Timeline({ view }) {
  const [hover, setHover] = useState(null);
  const [zoom, setZoom] = useState(null);
  const rows = [];
  const index = {};
  for (const p of view.placements) {
    index[p.job_id] = rows.length;
    rows.push({ job: p.job_id, planned: p, tries: [] });
  }
  for (const tr of view.tries) {
    if (index[tr.job_id] === undefined) {
      index[tr.job_id] = rows.length;
      rows.push({ job: tr.job_id, planned: null, tries: [] });
    }
    rows[index[tr.job_id]].tries.push(tr);
  }
  if (!rows.length) return <Text color="fg.muted">Nothing planned or run yet.</Text>;
  const colours = fleetColours([...view.placements, ...view.tries]);
  const times = [];
  for (const r of rows) {
    if (r.planned) times.push(t(r.planned.planned_start), t(r.planned.planned_end));
    if (r.planned && r.planned.deadline) times.push(t(r.planned.deadline));
    for (const tr of r.tries) times.push(t(tr.actual_start), t(tr.actual_end));
  }
  const valid = times.filter(Boolean).map((d) => d.getTime());
  const ran = view.tries.flatMap((x) => [t(x.actual_start), t(x.actual_end)]).filter(Boolean).map((d) => d.getTime());
  const full = [Math.min(...valid), Math.max(...valid)];
  const actual = ran.length ? [Math.min(...ran), Math.max(...ran)] : full;
  // the plan's windows come from estimates: when the tries took a small part of them, start on what ran
  const narrow = ran.length > 0 && actual[1] - actual[0] < 0.25 * (full[1] - full[0]);
  const mode = zoom || (narrow ? "ran" : "plan");
  let [t0, t1] = mode === "ran" ? [Math.min(actual[0], full[0]), actual[1]] : full;
  if (t1 - t0 < 10000) t1 = t0 + 10000;
  const pad = (t1 - t0) * 0.02;
  t0 -= pad;
  t1 += pad;
  const x = (iso) => LABEL + ((t(iso).getTime() - t0) / (t1 - t0)) * (WIDTH - LABEL - 10);
  const height = AXIS + rows.length * ROW + 8;
  const fg = cssVar("fg");
  const muted = cssVar("fg.muted");
  const border = cssVar("border");
  const crit = new Set(view.critical_path || []);
  const show = (e, item) => setHover({ x: e.clientX, y: e.clientY, item });

  return (
    <Box position="relative" overflowX="auto">
      {narrow && (
        <Flex gap="2" align="center" fontSize="xs" mb="1" data-testid="timeline-zoom">
          <Text color="fg.muted">
            {mode === "ran"
              ? `Showing what ran (${secs((actual[1] - actual[0]) / 1000)}); the planned windows reach ${new Date(full[1]).toISOString().slice(11, 16)} UTC.`
              : "Showing the whole plan; the tries are the short solid bars."}
          </Text>
          <Button size="xs" variant="outline" onClick={() => setZoom(mode === "ran" ? "plan" : "ran")}>
            {mode === "ran" ? "show the whole plan" : "zoom to what ran"}
          </Button>
        </Flex>
      )}
      <svg data-testid="timeline" data-mode={mode} viewBox={`0 0 ${WIDTH} ${height}`} width="100%" style={{ minWidth: 720, fontSize: 11 }}>
        <defs>
          <clipPath id="ais-plot"><rect x={LABEL} y={0} width={WIDTH - LABEL} height={height} /></clipPath>
          {Object.entries(colours).map(([fleet, c]) => (
            <pattern key={fleet} id={`hatch-${fleet.replace(/[^A-Za-z0-9_-]/g, "_")}`} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
              <rect width="6" height="6" fill={cssVar(c.token)} fillOpacity="0.18" />
              <line x1="0" y1="0" x2="0" y2="6" stroke={cssVar(c.token)} strokeWidth="3" strokeOpacity="0.55" />
            </pattern>
          ))}
        </defs>
        {ticks(t0, t1).map((tk) => {
          const xx = LABEL + ((tk - t0) / (t1 - t0)) * (WIDTH - LABEL - 10);
          return (
            <g key={tk}>
              <line x1={xx} x2={xx} y1={AXIS - 4} y2={height} stroke={border} />
              <text x={xx} y={AXIS - 8} fill={muted} textAnchor="middle">{new Date(tk).toISOString().slice(11, 19)}</text>
            </g>
          );
        })}
        {rows.map((r, i) => {
          const y = AXIS + i * ROW;
          const p = r.planned;
          const c = p && colours[p.fleet];
          return (
            <g key={r.job} data-row={r.job}>
              <line x1={0} x2={WIDTH} y1={y + ROW} y2={y + ROW} stroke={border} strokeOpacity="0.5" />
              <text x={4} y={y + ROW / 2 + 4} fill={fg} fontWeight={crit.has(r.job) ? 700 : 400}>
                {r.job.length > 26 ? r.job.slice(0, 25) + "…" : r.job}
                {crit.has(r.job) ? " ★" : ""}
              </text>
              <g clipPath="url(#ais-plot)">
              {p && (
                <rect data-bar="planned" data-job={r.job} x={x(p.planned_start)} y={y + 4} rx="2"
                  width={Math.max(2, x(p.planned_end) - x(p.planned_start))} height={ROW / 2 - 6}
                  fill={`url(#hatch-${p.fleet.replace(/[^A-Za-z0-9_-]/g, "_")})`}
                  stroke={c ? cssVar(c.token) : fg} strokeWidth={crit.has(r.job) ? 2 : 1}
                  onMouseMove={(e) => show(e, { kind: "planned", ...p })} onMouseLeave={() => setHover(null)} />
              )}
              {p && p.deadline && (
                <g>
                  <line x1={x(p.deadline)} x2={x(p.deadline)} y1={y + 1} y2={y + ROW - 1}
                    stroke={p.hard_deadline ? cssVar("red.500") : cssVar("orange.400")} strokeWidth="2" strokeDasharray="3 2" />
                  <text x={x(p.deadline) + 3} y={y + 10} fill={p.hard_deadline ? cssVar("red.500") : cssVar("orange.500")}>deadline</text>
                </g>
              )}
              {r.tries.map((tr) => {
                if (!tr.actual_start) return null;
                const tc = colours[tr.fleet];
                const x0 = x(tr.actual_start);
                const x1 = tr.actual_end ? x(tr.actual_end) : x0 + 2;
                const pre = tr.outcome === "preempted";
                const bad = tr.outcome === "failed" || tr.outcome === "upstream_failed";
                return (
                  <g key={`${tr.try_number}-${tr.attempt}`} onMouseMove={(e) => show(e, { kind: "try", ...tr })} onMouseLeave={() => setHover(null)}>
                    <rect data-bar="try" data-job={r.job} data-outcome={tr.outcome} x={x0} y={y + ROW / 2} rx="2"
                      width={Math.max(3, x1 - x0)} height={ROW / 2 - 4}
                      fill={tc ? cssVar(tc.token) : muted} stroke={bad || pre ? cssVar("red.500") : "none"} strokeWidth="2" />
                    {pre && <text x={x1 + 2} y={y + ROW - 6} fill={cssVar("red.500")} fontWeight="700">✕</text>}
                    {tr.relaunch && <text x={x0 - 11} y={y + ROW - 6} fill={fg} fontWeight="700">↻</text>}
                  </g>
                );
              })}
              </g>
            </g>
          );
        })}
      </svg>
      {hover && <Hover {...hover} />}
    </Box>
  );
}

function Hover({ x, y, item }) {
  const planned = item.kind === "planned";
  return (
    <Box position="fixed" left={`${x + 14}px`} top={`${y + 10}px`} zIndex="tooltip" maxW="420px" bg="bg.panel"
      borderWidth="1px" borderColor="border" borderRadius="md" boxShadow="lg" p="2" fontSize="xs" pointerEvents="none">
      <Text fontWeight="bold">{item.job_id} — {planned ? "planned" : `${item.label}, ${item.outcome}`}</Text>
      {Object.entries(item).filter(([k, v]) => /carbon|co2/i.test(k) && v !== null && v !== undefined).map(([k, v]) => (
        <Text key={k}>{k.replace(/_/g, " ")}: {typeof v === "number" ? v.toFixed(4) : String(v)}</Text>
      ))}
      <Text>{item.fleet} ({item.tier}) · {item.provider}:{item.region} {item.instance_type}</Text>
      {planned ? (
        <>
          <Text>{clock(item.planned_start)} → {clock(item.planned_end)} UTC · expected {usd(item.planned_cost)}</Text>
          {item.deadline && <Text>deadline {clock(item.deadline)} UTC{item.hard_deadline ? " (hard)" : ""}</Text>}
          {item.critical && <Text>on the critical path</Text>}
          <Text mt="1" color="fg.muted">why: {item.rationale || "–"}</Text>
        </>
      ) : (
        <>
          <Text>{clock(item.actual_start)} → {clock(item.actual_end)} UTC · ran {secs(item.runtime_seconds)}</Text>
          <Text>cost {usd(item.actual_cost)} at {usd(item.price_per_hour, 4)}/h · on-demand would be {usd(item.on_demand_cost)}</Text>
          {item.planned_fleet && item.planned_fleet !== item.fleet && <Text>planned on {item.planned_fleet}</Text>}
          {item.rationale && <Text mt="1" color="fg.muted">why: {item.rationale}</Text>}
        </>
      )}
    </Box>
  );
}
