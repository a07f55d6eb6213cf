// The deployment doctor (`qr-login doctor`, and "Check this server" in the app): acts as the clients do,
// from the outside, and says which part of a deployment breaks sign in with QR and how to fix it.
export { runDoctor, type DoctorOptions } from "./run.js";
export { parseTarget, TargetError, type Target } from "./target.js";
export { CHECKS, CHECK_IDS, isCheckId, titleOf, type CheckId, type CheckResult, type CheckStatus, type DoctorEvent, type DoctorReport, type VerdictLine } from "./types.js";
