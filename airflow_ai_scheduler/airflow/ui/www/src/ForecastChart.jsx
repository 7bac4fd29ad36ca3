// Task-hours per fleet: what happened (line), the forecast made `back` hours ago for the same hours (its
// 80 % and 95 % bands, faint), and the forecast from now on (bands and mean), with the recommended slots.
import { useEffect, useState } from "react";

import { api } from "./api";
import { Legend } from "./CostChart";
import { cssVar, t } from "./format";
import { Box, Text } from "./ui";

const W = 560;
const H = 170;
const L = 44;

function Band({ pts, X, Y, lo, hi, fill, opacity }) {
  const ok = pts.filter((p) => p[lo] !== null && p[hi] !== null);
  if (!ok.length) return null;
  const top = ok.map((p, i) => `${i ? "L" : "M"}${X(p.at)},${Y(p[hi])}`).join("");
  const bottom = [...ok].reverse().map((p) => `L${X(p.at)},${Y(p[lo])}`).join("");
  return <path d={`${top}${bottom}Z`} fill={fill} opacity={opacity} />;
}

function Line({ pts, X, Y, k, stroke, dash, width = 2 }) {
  const ok = pts.filter((p) => p[k] !== null && p[k] !== undefined);
  if (!ok.length) return null;
  return <path d={ok.map((p, i) => `${i ? "L" : "M"}${X(p.at)},${Y(p[k])}`).join("")} fill="none" stroke={stroke}
    strokeWidth={width} strokeDasharray={dash} />;
}

export function FleetForecast({ s }) {
  const conv = (xs) => xs.map((p) => ({ ...p, at: t(p.ds).getTime() + 30 * 60 * 1000 }));
  const actual = conv(s.actual);
  const past = conv(s.past_forecast);
  const fut = conv(s.forecast);
  const all = [...actual, ...past, ...fut];
  if (!all.length) return null;
  const start = Math.min(...all.map((p) => p.at));
  const end = Math.max(...all.map((p) => p.at));
  const max = Math.max(1e-6, ...all.map((p) => Math.max(p.value || 0, p.hi95 || 0, p.mean || 0)));
  const X = (at) => L + ((at - start) / Math.max(1, end - start)) * (W - L - 10);
  const Y = (v) => H - 20 - (v / max) * (H - 34);
  const now = fut.length ? fut[0].at - 30 * 60 * 1000 : end;
  const blue = cssVar("blue.500");
  return (
    <Box mb="3">
      <Text fontSize="sm" fontWeight="semibold">
        {s.fleet}
        {s.recommended_slots !== null && s.recommended_slots !== undefined
          ? ` — recommended ${s.recommended_slots} slot(s) for the next hour (configured ${s.configured_slots})` : ""}
      </Text>
      <svg data-testid={`forecast-${s.fleet}`} viewBox={`0 0 ${W} ${H}`} width="100%" style={{ fontSize: 10 }}>
        <line x1={L} x2={W - 10} y1={H - 20} y2={H - 20} stroke={cssVar("border")} />
        <line x1={L} x2={L} y1={10} y2={H - 20} stroke={cssVar("border")} />
        <text x={L - 4} y={Y(max) + 4} textAnchor="end" fill={cssVar("fg.muted")}>{max.toFixed(1)}</text>
        <text x={L - 4} y={H - 17} textAnchor="end" fill={cssVar("fg.muted")}>0</text>
        <line x1={X(now)} x2={X(now)} y1={10} y2={H - 20} stroke={cssVar("fg.muted")} strokeDasharray="2 3" />
        <text x={X(now) + 3} y={18} fill={cssVar("fg.muted")}>now</text>
        <Band pts={past} X={X} Y={Y} lo="lo95" hi="hi95" fill={cssVar("orange.300")} opacity={0.25} />
        <Band pts={past} X={X} Y={Y} lo="lo80" hi="hi80" fill={cssVar("orange.400")} opacity={0.3} />
        <Band pts={fut} X={X} Y={Y} lo="lo95" hi="hi95" fill={blue} opacity={0.15} />
        <Band pts={fut} X={X} Y={Y} lo="lo80" hi="hi80" fill={blue} opacity={0.3} />
        <Line pts={past} X={X} Y={Y} k="mean" stroke={cssVar("orange.500")} dash="4 3" width={1.5} />
        <Line pts={fut} X={X} Y={Y} k="mean" stroke={blue} dash="4 3" />
        <Line pts={actual} X={X} Y={Y} k="value" stroke={cssVar("fg")} />
        <text x={L} y={H - 5} fill={cssVar("fg.muted")}>{new Date(start).toISOString().slice(5, 16).replace("T", " ")}</text>
        <text x={W - 10} y={H - 5} textAnchor="end" fill={cssVar("fg.muted")}>{new Date(end).toISOString().slice(5, 16).replace("T", " ")} UTC</text>
      </svg>
    </Box>
  );
}

export function DemandForecast() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api("forecast?hours=24&back=24").then(setData, setError); }, []);
  if (error) return <Text color="fg.muted">No forecast: {String(error.message || error)}</Text>;
  if (!data) return <Text color="fg.muted">Forecasting…</Text>;
  if (!data.series.length) return <Text color="fg.muted">No history and no scheduled DAG yet: nothing to forecast.</Text>;
  return (
    <Box data-testid="demand-forecast">
      <Legend items={[["what happened", cssVar("fg")], ["forecast made 24 h ago (80/95 %)", cssVar("orange.400")],
        ["forecast from now (80/95 %)", cssVar("blue.500")]]} />
      <Text fontSize="xs" color="fg.muted" mb="2">
        Task-hours per hour (busy slots) by fleet, method {data.method}.{data.notes.length ? ` ${data.notes.join(" ")}` : ""}
      </Text>
      {data.series.map((s) => <FleetForecast key={s.fleet} s={s} />)}
    </Box>
  );
}
