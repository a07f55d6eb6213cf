// Every word the app shows or announces, in one place and keyed, ready for translation: a translation is
// another object of this shape. Strings that depend on data are functions of that data.
//
// The wording follows Element (Element Web/Desktop and Element X) wherever Element has a string for the
// same situation, and is made concrete where users were confused (docs/architecture.md "Screens and
// their wording").
import type { SignInErrorCode, SignInState, StorageStatus } from "../contract/account.js";
import type { FlowErrorCode } from "../contract/failures.js";
import type { ProtocolVersion, SecretsStep, StepStatus } from "../contract/flow.js";

type Text = { title: string; body: string };

/** Error wording: Element's strings where they exist, made concrete where users were confused. */
const errors: Record<FlowErrorCode, Text & { list?: string[] }> = {
  expired: { title: "The sign in was not completed in time", body: "Sign in expired. Please try again." },
  user_cancelled: { title: "Sign in request cancelled", body: "The sign in was cancelled on the other device." },
  user_declined: { title: "Sign in declined", body: "You or your homeserver declined the sign-in request." },
  unsupported_protocol: { title: "Other device not compatible", body: "The other device does not support signing in with a QR code. Try signing in manually, or use another device." },
  homeserver_lacks_support: {
    title: "QR code not supported",
    body: "Your homeserver (the server that holds your account) doesn't support signing in with a QR code. Its administrator can enable it; until then, sign in with your password.",
  },
  insecure_channel_detected: {
    title: "Connection not secure",
    body: "A secure connection could not be made to the other device. Your existing devices are still safe and you don't need to worry about them.",
    list: ["Try again, in case this was a network problem.", "If it happens again, try a different network.", "If that doesn't work, sign in manually."],
  },
  check_code_mismatch: {
    title: "The numbers don't match",
    body: "Please try again and make sure that you've entered the 2-digit code correctly. If the numbers still don't match, someone may be interfering: sign in manually.",
  },
  other_device_already_signed_in: { title: "Your other device is already signed in", body: "You don't need to do anything else." },
  other_device_not_signed_in: { title: "Other device not signed in", body: "Sign in to your other device and then try again, or use another device that's already signed in." },
  device_not_verified: {
    title: "This device is not verified",
    body: "This device is signed in but not verified, so it has no keys to give a new device. Verify it from another device, or sign out and sign in to your account again.",
  },
  device_already_exists: { title: "Something went wrong", body: "A device with the same ID is already signed in to your account. The request has been cancelled." },
  device_not_found: { title: "The new device did not finish signing in", body: "The new device did not appear on your account in time. Please try again." },
  unexpected_message_received: { title: "Something went wrong", body: "The other device sent an unexpected message. The request has been cancelled." },
  unable_to_open_verification_uri: { title: "Couldn't open the browser", body: "The browser page to approve the sign-in could not be opened. Please try again." },
  wrong_qr_code: { title: "Wrong QR code", body: "Use the QR code shown on the other device." },
  rate_limited: { title: "Too many attempts", body: "Too many attempts in a short time. Wait some time before trying again." },
  network: { title: "Can't reach the server", body: "Check your internet connection and try again." },
  camera_denied: { title: "Allow camera access to scan the QR code", body: "You need to give permission to use your camera, or choose another way to scan." },
  homeserver_needed: { title: "Which homeserver is your account on?", body: "Enter your homeserver to show a QR code." },
  invalid_request: { title: "Something went wrong", body: "An unexpected error occurred. Please try again." },
  unknown: { title: "Something went wrong", body: "An unexpected error occurred. Please try again." },
};

const signInErrors: Record<SignInErrorCode, Text> = {
  invalid_homeserver: { title: "Check the homeserver address", body: "That is not a homeserver address." },
  homeserver_unreachable: { title: "Can't reach the homeserver", body: "Check the address and your internet connection, then try again." },
  homeserver_lacks_support: { title: "This homeserver can't be used", body: "Your homeserver doesn't offer the sign-in qr-login uses (OAuth 2.0, also called next-generation auth). Its administrator can enable it." },
  browser_failed: { title: "Couldn't open the browser", body: "qr-login could not open your web browser for the sign-in page." },
  timeout: { title: "The sign-in was not completed in time", body: "The browser did not come back to qr-login in time. Please try again." },
  declined: { title: "Sign in declined", body: "The sign-in was declined in the browser." },
  invalid_recovery_key: { title: "The recovery key didn't work", body: "None of the keys entered unlocks your account's keys. Find your recovery key (saved when you set up recovery) and try again." },
  no_secret_storage: { title: "Set up recovery first", body: "Your account has no recovery key yet. Set up recovery in another app where you are signed in (Settings → Security), then try again." },
  secrets_unavailable: { title: "Your keys are incomplete", body: "Your account's recovery does not hold all of its cross-signing keys. Reset your recovery in another app, then try again." },
  unsafe_url: {
    title: "qr-login did not open the sign-in page",
    body: "Your homeserver's account provider gave a sign-in page that is not a secure web address (https), so qr-login did not open it. Someone may be interfering; tell your homeserver's administrator.",
  },
  unknown: { title: "Something went wrong", body: "The sign-in could not be completed. Please try again." },
};

/** How this sign-in is kept (a warning where it is not kept at all). */
const storage: Record<StorageStatus, string> = {
  keychain: "This sign-in is kept in your system's keychain, so qr-login stays signed in after you quit.",
  no_keyring:
    "This computer has no keyring (such as GNOME Keyring or KWallet) for qr-login to keep your sign-in in, so it is not saved: qr-login forgets it when you quit. Install or unlock a keyring to stay signed in.",
  unavailable: "Your system offers qr-login no encrypted storage, so this sign-in is not saved: qr-login forgets it when you quit.",
};

const signInStates: Record<SignInState, string> = {
  discovering: "Contacting your homeserver",
  waiting_for_browser: "Continue in your browser",
  finishing: "Signed in. Setting up this device",
  unlocking: "Unlocking your keys",
};

const steps: Record<SecretsStep, string> = {
  cross_signing_keys: "Cross-signing keys",
  backup_key: "Key backup key",
  device_signed: "Device signed",
  keys_uploaded: "Keys uploaded",
  backup_connected: "Key backup connected",
};

const stepStatus: Record<StepStatus, string> = { pending: "waiting", active: "in progress", done: "done", failed: "failed" };

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

export const copy = {
  appTitle: "Sign in with QR code",
  devBanner: { lead: "Development stack. ", approve: (homeserver: string) => `Approve sign-ins on ${homeserver} as `, password: " with the password ", end: "." },
  action: {
    cancel: "Cancel",
    back: "Back",
    done: "Done",
    tryAgain: "Try again",
    continue: "Continue",
    linkDevice: "Link a new device",
    signOut: "Sign out",
    openBrowser: "Open the browser",
    openBrowserAgain: "Open the browser again",
    checkServer: "Check this server",
  },
  field: { account: "Account", homeserver: "Homeserver", deviceId: "Device ID", newDeviceId: "New device ID", verification: "Verification", version: "Sign-in version", address: "Address: " },
  details: (message: string, reason?: string) => `Details: ${message}${reason ? ` (${reason})` : ""}`,
  /** The details line naming the version (both are "sign in with QR" to the user). */
  protocolDetail: (version: ProtocolVersion) =>
    version === "2024" ? "Sign in with QR, MSC4108 2024 version (as in Element's current apps)" : "Sign in with QR, MSC4108 2025 version (MSC4388 secure channel)",
  protocolName: (version: ProtocolVersion) => `MSC4108 ${version} version`,
  storage,
  notSaved: "Not saved on this computer. ",
  loading: { starting: "Starting…", qr: "Loading QR code…" },
  welcome: {
    title: "Sign in",
    question: "How do you want to sign in on this computer?",
    withQr: { label: "Sign in with a QR code", description: "Use a device where you are already signed in, such as your phone." },
    toAccount: { label: "Sign in to your account", description: "On your homeserver's sign-in page in your browser, then with your recovery key." },
  },
  home: { title: "Your account", notVerified: "Not verified: this device cannot link new devices" },
  homeserver: {
    titleSignIn: "Sign in to your account",
    titleShowQr: "Which homeserver is your account on?",
    placeholder: "matrix.org",
    helpSignIn: "The server your account is on, for example matrix.org. Your browser opens its sign-in page next.",
    helpShowQr: "The server your account is on, for example matrix.org. It carries the QR code's secure session.",
    empty: "Enter the address of your homeserver, for example matrix.org.",
  },
  signInProgress: {
    opened: "Your browser opened your homeserver's sign-in page. Sign in there and allow qr-login; then come back here.",
    opening: "Opening your browser at your homeserver's sign-in page…",
    notOpened: "The browser did not open?",
    openYourself: "Open this address in your browser yourself:",
    waiting: "Waiting for the browser",
  },
  signInStates,
  recoveryKey: {
    title: "Enter your recovery key",
    intro: "It unlocks your account's keys, so this computer can verify the devices it signs in. You type it once: qr-login keeps what it unlocks, not the key.",
    label: "Recovery key",
    help: "You saved it when you set up recovery in another app (for example “EsTc LW2K PGiF …”).",
    show: "Show the key",
    invalid: "That is not a recovery key: it has 48 letters and digits, usually in groups of four.",
    checking: "Checking the recovery key",
    unlock: "Unlock",
    retry: (left: number) => `That recovery key does not unlock your account. Check it and try again (${plural(left, "try", "tries")} left).`,
  },
  signedIn: { title: "You're signed in", body: "Your keys are unlocked: this computer can now sign in your other devices and verify them." },
  chooseSide: {
    existing: {
      title: "Link new device",
      question: "What type of device do you want to link?",
      scan: "Desktop computer — it shows a QR code, this device scans it",
      show: "Mobile device — show a QR code here for it to scan",
    },
    new: {
      title: "Sign in with QR code",
      note: "Only available if your homeserver supports it. Your other device must already be signed in.",
      show: "Show a QR code for my signed-in device to scan",
      scan: "Scan a QR code shown by my signed-in device",
    },
  },
  prescan: {
    title: "Scan the QR code",
    existingSteps: ["Open the app on the new device.", "Select “Sign in with QR code”.", "Scan the QR code it shows with this device."],
    newSteps: ["Open the app on your signed-in device.", "Select “Link new device”.", "Scan the QR code it shows with this device."],
    warningLead: "Only scan a code shown by your own device. ",
    warning: "Never scan a code sent to you by another person: it would give them access to your account.",
    ready: "Ready to scan",
  },
  camera: {
    title: "Allow camera access",
    why: "To scan the QR code, this app needs to use your camera. The picture stays on this device; only the code is read.",
    next: "Your system will ask for permission next. You can also choose another way to scan.",
    turnOn: "Turn on the camera",
    otherWays: "Other ways to scan",
  },
  scan: {
    title: "Scan the QR code",
    intro: "Choose how to read the code shown on your other device.",
    cameraView: "Camera view",
    screenView: "Screen being scanned for the QR code",
    useCamera: "Use the camera",
    captureScreen: "Capture a screen or window",
    openFile: "Open an image file",
    pasteLabel: "Or paste an image, or the code as text",
    pasteHelp: "Paste a screenshot of the QR code, or the text from “Copy code as text” on the other device.",
    usePasted: "Use pasted code",
    cameraDenied: "Camera access was not allowed. Allow it in your system settings, or choose another way to scan.",
    noCamera: "No camera could be opened. Choose another way to scan.",
    noScreen: "Screen capture was not started. Choose another way to scan.",
    noCodeInImage: "No QR code was found in that image. Try a clearer picture.",
    notAPayload: "That text is not a QR code payload. Paste the code copied from the other device.",
  },
  showQr: {
    titleNew: "Scan the QR code",
    titleExisting: "Scan the QR code with your new device",
    stepsNew: ["Open the app on your signed-in device.", "Select “Link new device”.", "Scan the QR code shown here.", "Follow the remaining instructions."],
    stepsExisting: ["Open the app on your new device.", "Select “Sign in with QR code”.", "Scan the QR code shown here.", "Follow the remaining instructions."],
    alt: "QR code to sign in. Scan it with your other device, or copy the code as text below.",
    regenerating: "Making a new code…",
    expiresIn: (left: number) => `Expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`,
    cantScan: "Can't scan? Copy the code as text",
    asText: "Code as text",
    copy: "Copy code as text",
    copied: "Copied.",
    copyFailed: "Couldn't copy: select the text above and copy it.",
  },
  connecting: { title: "Establishing a secure connection", waiting: "Connecting to your other device…" },
  checkCode: {
    title: "Enter the number below on your other device",
    body: "You'll be asked to enter the two digits shown on this device.",
    label: (code: string) => `Check code: ${code[0]} ${code[1]}`,
  },
  checkCodeEntry: {
    title: "Enter the number shown on your other device",
    help: "This will verify that the connection to your other device is secure.",
    label: "2-digit code",
    mismatch: "The numbers don't match. Check the number on your other device and try again.",
    invalid2024: "Enter the two digits shown on your other device.",
    invalid: "Enter the two digits shown on your other device (a number from 10 to 99).",
  },
  openBrowser: {
    title: "Approve the sign-in in your browser",
    opened: "Your browser opened your homeserver's page. Check the details there and approve the new device.",
    opening: "Opening your browser at your homeserver's page to approve the new device…",
    fallback: "If the browser did not open, use the button below.",
  },
  userCode: {
    title: "Your verification code",
    help: "Your homeserver may ask for the following code to confirm the sign-in. Check that it matches.",
    label: "Verification code",
  },
  confirmAccount: { title: "Is this your account?", yes: "Yes, continue", no: "No, cancel" },
  waiting: { otherDevice: "Waiting for your other device", consent: "Waiting for you to approve in the browser" },
  secrets: {
    titleNew: "Completing set up of your new device",
    titleExisting: "Sending your keys to the new device",
    sending: "Sending cross-signing and backup keys over the secure connection…",
    list: "Set-up steps",
    step: (step: SecretsStep, status: StepStatus) => `${steps[step]} — ${stepStatus[status]}`,
  },
  steps,
  stepStatus,
  success: {
    titleExisting: "New device linked",
    titleVerified: "You're signed in",
    titleUnverified: "Signed in, not verified",
    verified: "Verified",
    keysSent: "Keys sent",
    notVerified: "Not verified",
    bodyExisting: "The new device received your keys and verifies itself with them.",
    bodyVerified: "This device can read your encrypted messages.",
    bodyUnverified: "The keys could not be set up: verify this device from another session.",
  },
  errors,
  signInErrors,
  /** What the aria-live region announces as the state changes. */
  status: {
    browserOpenedSignIn: "Your browser opened. Sign in there.",
    openingBrowserSignIn: "Opening your browser",
    enterRecoveryKey: "Signed in. Enter your recovery key.",
    signedInAs: (userId: string) => `Signed in as ${userId}`,
    loadingQr: "Loading QR code",
    readyToScan: "Ready to scan",
    qrExpired: "The QR code expired. Making a new one.",
    checkingServer: "Checking the server",
    connecting: "Establishing a secure connection",
    qrReady: "QR code ready. Scan it with your other device.",
    checkCode: (code: string) => `Secure connection made. Enter the number ${code[0]} ${code[1]} on your other device.`,
    enterCheckCode: "Enter the number shown on your other device",
    userCode: (userCode: string) => `Your verification code is ${userCode}`,
    browserOpenedConsent: "Your browser opened. Approve the sign-in there.",
    openingBrowserConsent: "Opening your browser to approve the sign-in",
    confirmAccount: (userId: string) => `Confirm signing in as ${userId}`,
    step: (step: SecretsStep, status: StepStatus) => `${steps[step]}: ${stepStatus[status]}`,
    signedInNew: (userId: string, verified: boolean) => `Signed in as ${userId}${verified ? ", verified" : ""}`,
    linkedExisting: (verified: boolean) => `The new device is signed in${verified ? " and verified" : ""}`,
  },
  serverCheck: {
    titleRunning: "Checking the server",
    titleDone: "Server check",
    introBefore: "qr-login asks ",
    theServer: "the server",
    introAfter: " everything sign in with a QR code needs from it, as Element and other apps would. Nothing is signed in or changed; this takes up to half a minute.",
    checking: (what: string) => `Checking: ${what}`,
    starting: "Starting the checks…",
    notStarted: "The check could not be started.",
    problems: (problems: number, warnings: number) =>
      `${plural(problems, "problem", "problems")} found${warnings ? `, and ${plural(warnings, "warning", "warnings")}` : ""}. Each says what was seen and what the server's administrator can change.`,
    noProblems: (warnings: number) => `No problems found${warnings ? ` (${plural(warnings, "warning", "warnings")})` : ""}. If signing in still fails, try again: it may have been a network problem.`,
    checksLabel: "Checks",
    fix: "Fix: ",
    verdictTitle: "Who can sign in with this server",
    rowState: { waiting: "Waiting", running: "Checking", pass: "Passed", warn: "Warning", fail: "Problem", skip: "Skipped" },
    verdict: { pass: "Yes", warn: "Partly", fail: "No" },
    announceStart: (target: string) => `Checking ${target}`,
    announceDone: (problems: number) => (problems === 0 ? "Check finished: no problems found." : `Check finished: ${plural(problems, "problem", "problems")} found.`),
  },
} as const;
