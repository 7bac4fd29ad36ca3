// The LLM planner's exchange for this plan: outcome, repair, and (on demand) the redacted prompt and response.
import { useState } from "react";

import { api, runPath } from "./api";
import { Section } from "./RunView";
import { Box, Button, Code, Text } from "./ui";

export function LlmExchange({ view }) {
  const x = view.llm;
  const [full, setFull] = useState(null);
  const [error, setError] = useState(null);
  const r = x.repair || {};
  return (
    <Section id="llm" title="LLM exchange" hint="The LLM planner's answer is checked; what failed the check was repaired or the run fell back to the optimal planner. Secrets are redacted.">
      <Text fontSize="sm" data-testid="llm-summary">
        model <b>{x.model}</b>: <b>{x.outcome}</b> ({x.reason || "–"}), {(x.latency_seconds || 0).toFixed(1)} s, tokens in/out {x.input_tokens ?? "–"}/{x.output_tokens ?? "–"}; the repair kept {r.kept || 0}, changed {r.changed || 0}, retimed {r.retimed || 0} and added {r.added || 0} placement(s).
      </Text>
      {!full && <Button mt="2" size="xs" variant="outline" onClick={() => api(`${runPath(view.dag_id, view.run_id)}/llm-exchange`).then(setFull, setError)}>Show prompt and response</Button>}
      {error && <Text color="fg.error">{error.message}</Text>}
      {full && (
        <Box mt="2" data-testid="llm-full">
          <Text fontWeight="bold" fontSize="sm">Prompt</Text>
          <Code display="block" whiteSpace="pre-wrap" p="2" maxH="400px" overflow="auto" fontSize="xs">{full.prompt}</Code>
          <Text fontWeight="bold" fontSize="sm" mt="2">Response</Text>
          <Code display="block" whiteSpace="pre-wrap" p="2" maxH="400px" overflow="auto" fontSize="xs">{full.response}</Code>
        </Box>
      )}
    </Section>
  );
}
