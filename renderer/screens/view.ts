// What every screen is: a function from its state to its element, plus whatever it must stop when it
// goes (a camera, a countdown). Screens change nothing themselves: they send messages (renderer/policy.ts).
import type { Msg } from "../policy.js";
import type { Screen, ScreenName, ViewState } from "../view-model.js";

export interface View {
  element: HTMLElement;
  /** Stops what the screen started (camera, screen capture, countdown) when the next screen replaces it. */
  cleanup?: () => void;
}

export interface ViewContext {
  /** The whole state (role, protocol version, storage, app info), for what a screen shows besides its own data. */
  readonly state: ViewState;
  send(msg: Msg): void;
}

export type ScreenView<N extends ScreenName> = (screen: Extract<Screen, { name: N }>, ctx: ViewContext) => View;
