// goim's HTTP response envelope (docs/http-api.md#the-envelope): `{"code","message","data"}`
// in that order, `data` left out when there is none, Go's JSON escaping, no trailing newline.
import { goJson, goJsonString } from '../../protocol/go/go-json.js';

export const Code = { OK: 0, RequestErr: -400, TooLarge: -413, ServerErr: -500, Unavailable: -503 } as const;

/** What a JSON success (or logic error) carries; goim sets no charset-less variant. */
export const JSON_TYPE = 'application/json; charset=utf-8';
/** What Go's content sniffing gives a JSON envelope written after a 400 status line. */
export const SNIFFED_TEXT_TYPE = 'text/plain; charset=utf-8';

/** `data === undefined` omits the field; `null` is written as `"data":null`. */
export function envelope(code: number, message: string, data?: unknown): string {
  const head = `{"code":${code},"message":${goJsonString(message)}`;
  return data === undefined ? head + '}' : `${head},"data":${goJson(data)}}`;
}
