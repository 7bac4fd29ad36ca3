// The plan approval gate on a run's page: state, reason, approve / reject.
import { useState } from "react";

import { api, runPath } from "./api";
import { stamp } from "./format";
import { Box, Button, Flex, Input, Text } from "./ui";

export function Approval({ view, onChange }) {
  const a = view.approval;
  const [reason, setReason] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  if (!a || a.state === "not_required") return null;
  const decide = (decision) => {
    setBusy(true);
    api(`${runPath(view.dag_id, view.run_id)}/approval`, { method: "POST", body: { decision, reason } })
      .then(() => { setError(null); onChange(); }, setError)
      .finally(() => setBusy(false));
  };
  const palette = a.state === "pending" ? "orange" : a.state === "approved" ? "green" : "red";
  return (
    <Box data-testid="approval" data-state={a.state} borderWidth="2px" borderColor={`${palette}.500`} borderRadius="md" p="3" mb="4">
      <Text fontWeight="bold">Plan approval: {a.state}</Text>
      <Text fontSize="sm" data-testid="approval-reason">{a.reason}</Text>
      {a.state === "pending" && (
        <>
          <Text fontSize="sm" color="fg.muted">No task of this run starts until the plan below is approved. Rejecting fails the run with your reason. To change the plan, try other settings under “What if” and approve that plan instead.</Text>
          <Flex gap="2" mt="2" align="center" wrap="wrap">
            <Input size="sm" maxW="380px" placeholder="reason (shown on the run)" value={reason} onChange={(e) => setReason(e.target.value)} data-testid="approval-reason-input" />
            <Button size="sm" colorPalette="green" disabled={busy} onClick={() => decide("approved")} data-testid="approve">Approve plan</Button>
            <Button size="sm" colorPalette="red" variant="outline" disabled={busy} onClick={() => decide("rejected")} data-testid="reject">Reject</Button>
          </Flex>
        </>
      )}
      {a.decided_at && <Text fontSize="xs" color="fg.muted">decided {stamp(a.decided_at)}</Text>}
      {error && <Text color="fg.error" fontSize="sm">{error.message}</Text>}
    </Box>
  );
}

// the what-if panel offers "approve this plan instead" while a decision is pending
export function approveWhatIf(view, what_if, reason) {
  return api(`${runPath(view.dag_id, view.run_id)}/approval`, { method: "POST", body: { decision: "approved", reason, what_if } });
}
