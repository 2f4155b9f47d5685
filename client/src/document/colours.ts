// A person's colour for cursors and the presence list: stable per account, dark enough for
// text on white (WCAG AA) and, in its light form, for selections.
const HUES = [210, 0, 130, 275, 30, 180, 320, 95, 245, 15]

export function colourFor(userId: number, light = false): string {
  const hue = HUES[Math.abs(userId) % HUES.length]
  return light ? `hsla(${hue}, 80%, 70%, 0.35)` : `hsl(${hue}, 70%, 32%)`
}
