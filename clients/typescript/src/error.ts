/**
 * The one error type of the client: a call that failed, for whatever reason,
 * rejects with an `RpcError`.
 *
 * `code` is dotrpc's wire code when the server answered with an error
 * object (`"Application"`, `"UnknownApi"`, `"InvalidParams"`, ...; the
 * same names as Rust's `ErrorKind`), or one of the client's own:
 * `"Timeout"`, `"Disconnected"`, and `"Foreign"` for an error that is not a
 * dotrpc error object (any msgpack-rpc peer may answer with any value; it
 * is kept in `data`).
 */
export class RpcError<Data = unknown> extends Error {
  /** A stable code such as `"Application"` or `"Timeout"`. */
  readonly code: string;
  /**
   * What came with the error: an application error's value, say. A method's
   * declarations name its type (`@throws {RpcError<ShopError>}`): narrow
   * with `error as RpcError<ShopError>` once `code` is `"Application"`.
   */
  readonly data: Data;

  constructor(code: string, message: string, data?: Data) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.data = data as Data;
  }

  /** The error a server answered with, as it came on the wire. */
  static fromWire(error: unknown): RpcError {
    if (isErrorObject(error)) {
      return new RpcError(error.code, error.message, error.data);
    }
    return new RpcError("Foreign", typeof error === "string" ? error : JSON.stringify(error), error);
  }

  /** The error object a handler's failure is answered with. */
  static toWire(error: unknown): { code: string; message: string; data?: unknown } {
    if (error instanceof RpcError) {
      return error.data === undefined
        ? { code: error.code, message: error.message }
        : { code: error.code, message: error.message, data: error.data };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { code: "Internal", message: `the handler failed: ${message}` };
  }
}

function isErrorObject(value: unknown): value is { code: string; message: string; data?: unknown } {
  if (typeof value !== "object" || value === null) return false;
  const object = value as Record<string, unknown>;
  return typeof object.code === "string" && typeof object.message === "string";
}
