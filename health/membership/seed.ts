// A watcher's jitter seed from its target's name (FNV-1a): two pools watched by one leader do
// not retry in lockstep, and the same target always replays the same delays.

export function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
