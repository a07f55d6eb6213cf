// Entity tags and HTTP dates for the 2024 API (RFC 9110 §8.8.3, §13.1.1–2, §5.6.7).
//
// Our ETags are always strong: `"` + the session's sequence token + `"`. What we accept from
// clients is defined here:
//   If-Match (PUT)       exactly one entity tag. A weak tag W/"t" counts as "t": we never issue weak
//                        tags, so W/"t" can only be our tag weakened by an intermediary (nginx does
//                        that when it gzips a response), and honouring it keeps sign-in working
//                        behind such a proxy. `*` and lists are refused (400): `*` would overwrite
//                        unconditionally, and a writer knows exactly one current state.
//   If-None-Match (GET)  RFC 9110's weak comparison over a list or `*`; a malformed value is
//                        ignored (the GET answers 200), as the RFC allows.

export interface EntityTag {
  /** The characters between the quotes. */
  readonly opaque: string;
  readonly weak: boolean;
}

export type ParsedTags = { readonly kind: "any" } | { readonly kind: "tags"; readonly tags: readonly EntityTag[] } | { readonly kind: "malformed" };

// One list member: optional W/ (any case: liberal on input), a quoted opaque-tag of etagc
// characters (%x21 / %x23-7E / obs-text), then a comma or the end.
const MEMBER = /[ \t]*(?:([Ww])\/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(?:,|$)/y;
const EMPTY_MEMBER = /[ \t]*,/y;

/** Parses an If-Match / If-None-Match value (`*` or a comma-separated list of entity tags). */
export function parseEntityTags(value: string): ParsedTags {
  if (value.trim() === "*") return { kind: "any" };
  const tags: EntityTag[] = [];
  let at = 0;
  while (at < value.length) {
    EMPTY_MEMBER.lastIndex = at;
    if (EMPTY_MEMBER.test(value)) { at = EMPTY_MEMBER.lastIndex; continue; } // RFC 9110 §5.6.1: empty list elements
    MEMBER.lastIndex = at;
    const m = MEMBER.exec(value);
    if (!m) return value.slice(at).trim() === "" ? (tags.length ? { kind: "tags", tags } : { kind: "malformed" }) : { kind: "malformed" };
    tags.push({ opaque: m[2]!, weak: m[1] !== undefined });
    at = MEMBER.lastIndex;
  }
  return tags.length ? { kind: "tags", tags } : { kind: "malformed" };
}

export type IfMatch =
  | { readonly ok: true; readonly opaque: string }
  | { readonly ok: false; readonly errcode: "M_MISSING_PARAM" | "M_INVALID_PARAM"; readonly message: string };

/** The If-Match of a 2024 PUT: exactly one entity tag (see the top of this file). */
export function readIfMatch(header: string | string[] | undefined): IfMatch {
  if (header === undefined) return { ok: false, errcode: "M_MISSING_PARAM", message: "Missing required header: If-Match (the ETag of the session as last seen)" };
  const parsed = parseEntityTags(Array.isArray(header) ? header.join(", ") : header);
  if (parsed.kind === "any") return { ok: false, errcode: "M_INVALID_PARAM", message: "If-Match: * is not accepted: send the ETag of the session as last seen" };
  if (parsed.kind === "malformed") return { ok: false, errcode: "M_INVALID_PARAM", message: "If-Match must be one entity tag in double quotes" };
  if (parsed.tags.length !== 1) return { ok: false, errcode: "M_INVALID_PARAM", message: "If-Match must hold exactly one entity tag" };
  return { ok: true, opaque: parsed.tags[0]!.opaque };
}

/** Whether a GET's If-None-Match matches the current tag (weak comparison), i.e. the answer is 304. */
export function ifNoneMatchHolds(header: string | string[] | undefined, currentOpaque: string): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(", ") : header;
  // The common case, a client echoing our tag, without the parser.
  if (value.length === currentOpaque.length + 2 && value.charCodeAt(0) === 34 && value.endsWith("\"") && value.slice(1, -1) === currentOpaque) return true;
  const parsed = parseEntityTags(value);
  if (parsed.kind === "any") return true;
  return parsed.kind === "tags" && parsed.tags.some((t) => t.opaque === currentOpaque);
}

/** IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`; sub-second parts are dropped. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
