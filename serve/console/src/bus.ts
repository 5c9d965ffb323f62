// A tiny event bus between the socket and the views.
type Fn = (payload: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
const subs = new Map<string, Set<Fn>>();

export const bus = {
  on(topic: string, fn: Fn): () => void {
    if (!subs.has(topic)) subs.set(topic, new Set());
    subs.get(topic)!.add(fn);
    return () => subs.get(topic)!.delete(fn);
  },
  emit(topic: string, payload: unknown): void {
    subs.get(topic)?.forEach((fn) => fn(payload));
  },
};
