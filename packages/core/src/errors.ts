/**
 * An error caused by the user's input (config, flag, file, plugin). The CLI prints its message as one line and
 * exits non-zero, without a stack trace. The message names the field, the value and what is allowed.
 */
export class SelectivError extends Error {
  /** Brand checked across package copies (a plugin may carry its own copy of this class). */
  readonly selectivUserError = true;

  constructor(message: string) {
    super(message);
    this.name = "SelectivError";
  }
}

export function isSelectivError(e: unknown): e is SelectivError {
  return e instanceof Error && (e as Partial<SelectivError>).selectivUserError === true;
}

/** One line, whatever the error: the message of a SelectivError, else `Name: message` of the first line. */
export function oneLine(e: unknown): string {
  if (e instanceof Error) {
    const first = (e.message || String(e)).split("\n")[0]!.trim();
    return isSelectivError(e) ? first : `${e.name}: ${first}`;
  }
  return String(e).split("\n")[0]!;
}
