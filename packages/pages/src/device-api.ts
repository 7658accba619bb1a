import { badRequest } from "@asu/contract";
import { type ApiApp, createRoute } from "@asu/http";
import type { OpenwrtCatalog } from "@asu/upstream";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deviceList, targetList } from "./device-choices.ts";

export interface DeviceApiDeps {
  catalog: Pick<OpenwrtCatalog, "hasVersion" | "targets" | "profiles">;
}

const targetsSchema = z
  .object({ version: z.string(), targets: z.array(z.string()).describe("In name order") })
  .openapi("VersionTargets");

const deviceSchema = z
  .object({
    version: z.string(),
    target: z.string(),
    version_code: z.string(),
    default_packages: z.array(z.string()),
    profiles: z.array(
      z.object({
        id: z.string().describe("The profile to send as `profile`"),
        titles: z.array(z.string()).describe("Vendor, model and variant of each model covered"),
        supported_devices: z.array(z.string()),
        device_packages: z
          .array(z.string())
          .describe("Added to the defaults; `-name` removes a default"),
      }),
    ),
  })
  .openapi("TargetDevices");

const json = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } } });
const refused = { description: "Unknown version or target: `{detail, status}`" };

function sendJson(c: Context, text: string) {
  return c.body(text, 200, { "content-type": "application/json" });
}

/**
 * What the build page needs to choose a device: the targets of one version
 * and the devices of one target, in a few kilobytes instead of the whole
 * profiles.json. Each answer is kept per upstream file object, so it is
 * derived again only when upstream publishes a new file.
 */
export function registerDeviceApi(app: ApiApp, deps: DeviceApiDeps): void {
  const { catalog } = deps;
  const answers = new WeakMap<object, string>();
  const cached = (source: object, derive: () => unknown) => {
    let text = answers.get(source);
    if (text === undefined) {
      text = JSON.stringify(derive());
      answers.set(source, text);
    }
    return text;
  };

  async function knownVersion(version: string) {
    if (!(await catalog.hasVersion(version))) throw badRequest(`Unsupported version: ${version}`);
  }

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/targets/{version}",
      summary: "Targets of a version (for the build page)",
      request: { params: z.object({ version: z.string() }) },
      responses: {
        200: { description: "The version's targets", ...json(targetsSchema) },
        400: refused,
        503: { description: "Upstream metadata unavailable" },
      },
    }),
    async (c) => {
      const { version } = c.req.valid("param");
      await knownVersion(version);
      const targets = await catalog.targets(version);
      if (!targets) return c.json({ version, targets: [] }, 200);
      return sendJson(
        c,
        cached(targets, () => ({ version, targets: targetList(targets) })),
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/profiles/{version}/{target}/{subtarget}",
      summary: "Devices of a target (for the build page)",
      description:
        "The target's default packages and, per device, its profile id, names and device packages, from upstream's profiles.json.",
      request: {
        params: z.object({ version: z.string(), target: z.string(), subtarget: z.string() }),
      },
      responses: {
        200: { description: "The target's devices, by name", ...json(deviceSchema) },
        400: refused,
        503: { description: "Upstream metadata unavailable" },
      },
    }),
    async (c) => {
      const { version, target: family, subtarget } = c.req.valid("param");
      const target = `${family}/${subtarget}`;
      await knownVersion(version);
      const metadata = await catalog.profiles(version, target);
      if (!metadata?.profiles) throw badRequest(`Unsupported target: ${target}`);
      return sendJson(
        c,
        cached(metadata, () => ({ version, target, ...deviceList(metadata) })),
      );
    },
  );
}
