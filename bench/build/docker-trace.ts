// Times every container API call a worker makes by wrapping its Docker
// client's objects, so the worker itself is untouched.
import type Docker from "dockerode";

/** What a trace calls the exec of `make manifest` and `make image` together. */
export const MERGED_STEP = "make manifest+image";

export interface TraceEvent {
  /** `Container.start`, `Exec.inspect`, `Container.getArchive stream`, … */
  call: string;
  /** The command of an exec, the path of an archive call, the image of a container. */
  detail: string;
  start: number;
  end: number;
  failed: boolean;
}

export interface DockerTrace {
  readonly events: TraceEvent[];
  clear(): void;
}

function isStream(value: unknown): value is NodeJS.ReadableStream {
  const candidate = value as { on?: unknown; pipe?: unknown } | null;
  return typeof candidate?.on === "function" && typeof candidate.pipe === "function";
}

/** dockerode's entities all carry the modem; streams and plain answers do not. */
function isEntity(value: unknown): value is object {
  return typeof value === "object" && value !== null && "modem" in value && !isStream(value);
}

/** What tells calls of one method apart in a timeline. */
function detailOf(method: string, args: readonly unknown[], inherited: string): string {
  const first = args[0] as { Cmd?: string[]; Image?: string; path?: string } | undefined;
  if (method === "exec" && first?.Cmd) {
    // The worker's merged step: make manifest, its answer, make image, in one sh.
    if (first.Cmd[0] === "sh" && first.Cmd[2]?.includes("'make' 'manifest'")) {
      return MERGED_STEP;
    }
    return first.Cmd.slice(0, 2).join(" ");
  }
  if (method === "createContainer" && first?.Image) return first.Image;
  if (method === "putArchive") return (args[1] as { path?: string } | undefined)?.path ?? "";
  if ((method === "getArchive" || method === "infoArchive") && first?.path) return first.path;
  if (method === "getImage" && typeof first === "string") return first;
  return inherited;
}

function wrap<T extends object>(target: T, events: TraceEvent[], inherited: string): T {
  const entity = target.constructor?.name ?? "Docker";
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        const call = `${entity}.${property}`;
        const detail = detailOf(property, args, inherited);
        const start = performance.now();
        const result = (value as (...a: unknown[]) => unknown).apply(object, args);
        const adopt = (answer: unknown) => {
          if (isEntity(answer)) return wrap(answer, events, detail);
          if (isStream(answer)) {
            let open = true;
            const ended = () => {
              if (!open) return;
              open = false;
              events.push({
                call: `${call} stream`,
                detail,
                start,
                end: performance.now(),
                failed: false,
              });
            };
            answer.once("end", ended);
            answer.once("close", ended);
          }
          return answer;
        };
        if (!(result instanceof Promise)) return adopt(result);
        return result.then(
          (answer) => {
            events.push({ call, detail, start, end: performance.now(), failed: false });
            return adopt(answer);
          },
          (error: unknown) => {
            events.push({ call, detail, start, end: performance.now(), failed: true });
            throw error;
          },
        );
      };
    },
  });
}

/** A Docker client for a worker, and the trace of everything it does with it. */
export function traceDocker(docker: Docker): { docker: Docker; trace: DockerTrace } {
  const events: TraceEvent[] = [];
  return {
    docker: wrap(docker, events, ""),
    trace: {
      events,
      clear: () => {
        events.length = 0;
      },
    },
  };
}
