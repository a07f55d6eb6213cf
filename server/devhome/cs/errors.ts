// Matrix standard error responses ({errcode, error}) for the development homeserver's CS API.
// Every failure the routes raise is a MatrixError, so the error handler never has to guess a status.

export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    /** Extra top-level fields of the error body (e.g. `current_version`, UIA `flows`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "MatrixError";
  }

  body(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const badJson = (msg: string): MatrixError => new MatrixError(400, "M_BAD_JSON", msg);
export const notJson = (msg = "Content not JSON."): MatrixError => new MatrixError(400, "M_NOT_JSON", msg);
export const invalidParam = (msg: string): MatrixError => new MatrixError(400, "M_INVALID_PARAM", msg);
export const missingParam = (msg: string): MatrixError => new MatrixError(400, "M_MISSING_PARAM", msg);
export const invalidSignature = (msg: string): MatrixError => new MatrixError(400, "M_INVALID_SIGNATURE", msg);
export const notFound = (msg: string): MatrixError => new MatrixError(404, "M_NOT_FOUND", msg);
export const forbidden = (msg: string): MatrixError => new MatrixError(403, "M_FORBIDDEN", msg);
export const unrecognized = (msg = "Unrecognized request"): MatrixError => new MatrixError(404, "M_UNRECOGNIZED", msg);
