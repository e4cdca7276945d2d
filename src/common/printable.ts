// Text that stations, technicians, hubs and agents control, made safe for a terminal or a log line.
// `printable` is the one function the CLI prints such text through; the JSON forms keep the text
// whole (a JSON parse gives it back) while no character of it acts on a terminal.
//
// What is replaced (with U+FFFD) or, in JSON, written as a \u escape:
// - C0 controls (U+0000-U+001F: ESC starts every CSI and OSC sequence, BEL ends OSC; TAB, CR and
//   LF too, so a value cannot forge a line or a column), DEL (U+007F) and C1 controls
//   (U+0080-U+009F: U+009B is CSI and U+009D is OSC on terminals that honour 8-bit controls);
// - U+2028 and U+2029, line and paragraph separators, which some viewers break lines at;
// - the bidi embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069), which reorder
//   what follows them on a bidi-aware terminal or viewer ("Trojan Source"). Right-to-left letters
//   themselves, and the marks U+200E, U+200F and U+061C (which cannot reorder letters), are kept.

// eslint-disable-next-line no-control-regex
const unsafeCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

// JSON.stringify escapes the C0 controls itself; these are the rest of the unsafe characters.
const unescapedByJson = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every character that can act on a terminal (see above) shown as U+FFFD. */
export function printable(text: string): string {
  return text.replace(unsafeCharacters, '\ufffd');
}

/**
 * JSON text (as JSON.stringify writes it) with DEL, C1, line separators and bidi controls written
 * as \u escapes. Outside its strings JSON text is ASCII, so every such character is inside a string
 * and the escape parses back to the same text.
 */
export function escapeJsonControls(json: string): string {
  return json.replace(
    unescapedByJson,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** JSON.stringify, with no character left raw that could act on a terminal. */
export function stringifyPrintable(value: unknown, space?: number): string {
  const json = JSON.stringify(value, null, space) as string | undefined;
  return json === undefined ? 'null' : escapeJsonControls(json);
}
