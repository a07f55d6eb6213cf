// Where a window reopens: its saved bounds, kept on a display that is there now. Saved bounds can
// point at a monitor that has been unplugged, or hang off the edge after a resolution change; Electron
// opens the window there all the same, out of the user's reach.

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

function intersects(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}

/**
 * The saved bounds fitted into `workArea`, the work area of the display they are on (Electron's
 * `screen.getDisplayMatching`: the display they overlap most; one they do not touch at all when their
 * display is gone, so they are then centred on it). Shrunk to fit, moved just far enough to be whole.
 */
export function fitToWorkArea(saved: Rect, workArea: Rect): Rect {
  const width = Math.round(Math.min(saved.width, workArea.width));
  const height = Math.round(Math.min(saved.height, workArea.height));
  if (!intersects(saved, workArea)) {
    return { x: Math.round(workArea.x + (workArea.width - width) / 2), y: Math.round(workArea.y + (workArea.height - height) / 2), width, height };
  }
  return {
    x: Math.round(clamp(saved.x, workArea.x, workArea.x + workArea.width - width)),
    y: Math.round(clamp(saved.y, workArea.y, workArea.y + workArea.height - height)),
    width,
    height,
  };
}
