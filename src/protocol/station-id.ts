// Station IDs: "ST-" then 8 symbols of Crockford's base32 in two groups, then a check symbol
// (Luhn mod 32), e.g. ST-7KQ3-9XPM-4. Luhn mod N catches every single mistyped symbol and most
// swaps of neighbours. Parsing is case-insensitive and ignores dashes and spaces.

import { LifelineError } from '../common/errors.js';

export const stationIdAlphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const base = stationIdAlphabet.length;
const payloadLength = 8;

function codePoint(symbol: string): number {
  return stationIdAlphabet.indexOf(symbol);
}

/** The Luhn mod 32 check symbol of a payload of valid symbols. */
export function checkSymbol(payload: string): string {
  let sum = 0;
  let double = true;
  for (let i = payload.length - 1; i >= 0; i--) {
    let addend = codePoint(payload.charAt(i));
    if (double) {
      addend *= 2;
      addend = Math.floor(addend / base) + (addend % base);
    }
    sum += addend;
    double = !double;
  }
  return stationIdAlphabet.charAt((base - (sum % base)) % base);
}

export function formatStationId(payload: string): string {
  return `ST-${payload.slice(0, 4)}-${payload.slice(4, 8)}-${checkSymbol(payload)}`;
}

/** A new random Station ID; `randomBytes` supplies 8 bytes, each reduced to one symbol. */
export function generateStationId(randomBytes: (n: number) => Uint8Array): string {
  const bytes = randomBytes(payloadLength);
  let payload = '';
  for (const byte of bytes) payload += stationIdAlphabet.charAt(byte % base);
  return formatStationId(payload);
}

/** Parses what a person typed into the canonical form, or throws STATION_ID_INVALID saying why. */
export function parseStationId(input: string): string {
  let compact = input.toUpperCase().replace(/[\s-]/g, '');
  if (compact.startsWith('ST')) compact = compact.slice(2);
  if (compact.length !== payloadLength + 1) {
    throw new LifelineError(
      'STATION_ID_INVALID',
      `${JSON.stringify(input)} is not a Station ID: expected ST-XXXX-XXXX-C (8 symbols and a check symbol)`,
    );
  }
  for (const symbol of compact) {
    if (codePoint(symbol) < 0) {
      const hint = { O: '0', I: '1', L: '1', U: 'V' }[symbol];
      throw new LifelineError(
        'STATION_ID_INVALID',
        `${JSON.stringify(input)} is not a Station ID: '${symbol}' is not used in Station IDs` +
          (hint ? ` (did you mean '${hint}'?)` : ''),
      );
    }
  }
  const payload = compact.slice(0, payloadLength);
  if (checkSymbol(payload) !== compact.charAt(payloadLength)) {
    throw new LifelineError(
      'STATION_ID_INVALID',
      `${JSON.stringify(input)} is not a Station ID: the check symbol does not match; a symbol is mistyped`,
    );
  }
  return formatStationId(payload);
}

export function isStationId(input: string): boolean {
  try {
    parseStationId(input);
    return true;
  } catch {
    return false;
  }
}
