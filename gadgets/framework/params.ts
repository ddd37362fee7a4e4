/** string[] params travel as a JSON array string (repeatable flags). */
export function listParam(params: Record<string, string>, name: string): string[] {
  const v = params[name];
  if (!v) return [];
  if (v.startsWith('[')) return JSON.parse(v) as string[];
  return [v];
}
