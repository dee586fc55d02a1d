/**
 * The weights of a gradual shift from `source` to `target`: at each percentage p the target
 * carries p% of what the source carried (in the source's weight units) and the source the rest.
 * The last step is always 100 (the schema enforces it), leaving the source at 0.
 */
export function rampPlan(
  weights: Record<string, number>,
  source: string,
  target: string,
  percents: number[],
): { percent: number; weights: Record<string, number> }[] {
  const total = (weights[source] ?? 0) + (weights[target] ?? 0) || 100;
  return percents.map((p) => {
    const toTarget = Math.round((total * p) / 100);
    return { percent: p, weights: { ...weights, [source]: total - toTarget, [target]: toTarget } };
  });
}
