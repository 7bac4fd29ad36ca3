// The settings a DAG's next run will be planned with (a what-if applied from a run's page), with "cancel".
import { useCallback, useEffect, useState } from "react";

import { api, enc } from "./api";
import { stamp } from "./format";
import { Box, Button, Flex, Text } from "./ui";

export function describe(s) {
  const parts = [];
  if (s.planner) parts.push(`planner ${s.planner}`);
  if (s.weights) parts.push(`weights cost ${s.weights.cost}, tardiness ${s.weights.tardiness}, risk ${s.weights.risk}`);
  if (s.tiers) parts.push(`tiers ${s.tiers.join(", ")}`);
  if (s.providers) parts.push(`providers ${s.providers.join(", ")}`);
  if (s.regions) parts.push(`regions ${s.regions.join(", ")}`);
  return parts.join("; ") || "the defaults";
}

export function useNextRun(dagId) {
  const [next, setNext] = useState(null);
  const load = useCallback(() => api(`dags/${enc(dagId)}/next-run`).then((r) => setNext(r.next_run), () => setNext(null)), [dagId]);
  useEffect(() => { load(); }, [load]);
  return [next, load];
}

export function NextRun({ dagId, next, reload }) {
  const [error, setError] = useState(null);
  if (!next) return null;
  return (
    <Box data-testid="next-run" borderWidth="1px" borderColor="blue.500" borderRadius="md" p="3" mb="4">
      <Flex gap="3" align="center" wrap="wrap">
        <Text fontSize="sm">
          The next run of <b>{dagId}</b> will be planned with {describe(next.settings)} (chosen by {next.set_by || "someone"}, {stamp(next.set_at)}).
        </Text>
        <Button size="xs" variant="outline" onClick={() => api(`dags/${enc(dagId)}/next-run`, { method: "DELETE" }).then(reload, setError)}>cancel</Button>
      </Flex>
      {error && <Text color="fg.error" fontSize="sm">{error.message}</Text>}
    </Box>
  );
}
