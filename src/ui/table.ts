/**
 * Plain aligned tables in the style of kubectl and istioctl: upper-case headers,
 * columns separated by at least three spaces, no borders (easy to grep and awk).
 */

/** Width of a string as a terminal shows it, ignoring ANSI colour codes. */
export function displayWidth(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Renders rows under headers; every row must have as many cells as there are headers. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - displayWidth(c) + 3)))
      .join('')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
