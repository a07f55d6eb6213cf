// Every screen, by the name of its state (view-model.ts Screen): a screen without a view does not compile.
import type { Screen, ScreenName } from "../view-model.js";
import { cameraPermission } from "./camera-permission.js";
import { checkCodeEntry } from "./check-code-entry.js";
import { checkCode } from "./check-code.js";
import { chooseSide } from "./choose-side.js";
import { confirmAccount } from "./confirm-account.js";
import { connecting } from "./connecting.js";
import { error } from "./error.js";
import { home } from "./home.js";
import { homeserver } from "./homeserver.js";
import { loading } from "./loading.js";
import { openBrowser } from "./open-browser.js";
import { prescanWarning } from "./prescan-warning.js";
import { recoveryKey } from "./recovery-key.js";
import { scan } from "./scan.js";
import { secrets } from "./secrets.js";
import { serverCheck } from "./server-check.js";
import { showQr } from "./show-qr.js";
import { signInError } from "./sign-in-error.js";
import { signInProgress } from "./sign-in-progress.js";
import { signedIn } from "./signed-in.js";
import { success } from "./success.js";
import { userCode } from "./user-code.js";
import type { ScreenView, View, ViewContext } from "./view.js";
import { waiting } from "./waiting.js";
import { welcome } from "./welcome.js";

const SCREENS: { readonly [N in ScreenName]: ScreenView<N> } = {
  welcome,
  home,
  homeserver,
  sign_in_progress: signInProgress,
  recovery_key: recoveryKey,
  signed_in: signedIn,
  sign_in_error: signInError,
  choose_side: chooseSide,
  prescan_warning: prescanWarning,
  scan,
  camera_permission: cameraPermission,
  loading,
  show_qr: showQr,
  connecting,
  check_code: checkCode,
  check_code_entry: checkCodeEntry,
  open_browser: openBrowser,
  user_code: userCode,
  confirm_account: confirmAccount,
  waiting,
  secrets,
  success,
  error,
  server_check: serverCheck,
};

export function viewOf(screen: Screen, ctx: ViewContext): View {
  return (SCREENS[screen.name] as ScreenView<ScreenName>)(screen as never, ctx);
}

export type { View, ViewContext } from "./view.js";
