export const usd = (v, digits) => {
  if (v === null || v === undefined) return "–";
  const d = digits ?? (Math.abs(v) >= 1 ? 2 : Math.abs(v) >= 0.01 ? 4 : 6);
  return `$${Number(v).toFixed(d)}`;
};
export const pct = (v) => (v === null || v === undefined ? "–" : `${Number(v).toFixed(1)} %`);
export const secs = (s) => {
  if (s === null || s === undefined) return "–";
  if (s < 90) return `${Number(s).toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
};
export const t = (iso) => (iso ? new Date(iso) : null);
export const clock = (iso) => (iso ? new Date(iso).toISOString().slice(11, 19) : "–");
export const stamp = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–");

// fleet colours: greens for spot, blues for on-demand, one shade per fleet (stable by name order)
const SPOT = ["green.500", "teal.500", "green.700", "teal.700", "green.300", "teal.300"];
const OD = ["blue.500", "purple.500", "blue.700", "purple.700", "blue.300", "purple.300"];
export const cssVar = (token) => `var(--chakra-colors-${token.replace(".", "-")})`;
export function fleetColours(items) {
  const fleets = {};
  const seen = { spot: 0, "on-demand": 0 };
  const sorted = [...items].filter((i) => i.fleet).sort((a, b) => a.fleet.localeCompare(b.fleet));
  for (const i of sorted) {
    if (fleets[i.fleet]) continue;
    const tier = i.tier === "spot" ? "spot" : "on-demand";
    const pal = tier === "spot" ? SPOT : OD;
    fleets[i.fleet] = { token: pal[seen[tier] % pal.length], tier };
    seen[tier] += 1;
  }
  return fleets;
}

// a plan's status in words ("optimal (optimal)" said nothing)
const STATUS = {
  optimal: "proven cheapest for its objective",
  feasible: "best found within the time limit",
  repaired: "LLM plan, repaired",
  fallback: "fallback plan",
  invalid: "invalid",
};
export const statusText = (s) => STATUS[s] || s;
