// Preload (sandboxed, context-isolated): exposes window.qrLogin, built from the IPC table
// (contract/ipc.ts): one method per request, each invoking its own channel, and one subscription per
// event. ipcRenderer itself, IpcRendererEvent objects and Node never reach the page.
import { contextBridge, ipcRenderer } from "electron";
import type * as v from "valibot";
import { CHANNEL_SIDES, DEVICE_ROLES, type ChannelSide, type DeviceRole } from "../contract/flow.js";
import { EVENTS, REQUESTS, type QrLoginApi } from "../contract/ipc.js";

/**
 * Main passes the window's role and side via webPreferences.additionalArguments (--qr-login-role=new).
 * Only those two: a renderer's command line is visible to every local user (`ps`), so nothing about
 * the account (a Matrix user id, a label naming it) is put there; the rest comes from getAppInfo().
 */
function arg<T extends string>(name: string, allowed: readonly T[]): T | null {
  const prefix = `--qr-login-${name}=`;
  const value = process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
  return (allowed as readonly (string | undefined)[]).includes(value) ? (value as T) : null;
}

/** The parts of a valibot schema this file reads (public properties of every schema object). */
type SchemaShape = v.GenericSchema & { entries?: Record<string, SchemaShape>; wrapped?: SchemaShape; items?: SchemaShape[]; class?: new (x: unknown) => unknown };

/**
 * A plain copy of one argument, shaped by its schema: strings stay strings, only `true` is true, bytes
 * are copied, objects keep only the fields the schema names. The page may pass anything; what goes to
 * main is plain data of the declared shape (main checks it again: the renderer is not trusted).
 */
function plain(schema: SchemaShape, value: unknown): unknown {
  switch (schema.type) {
    case "string":
    case "picklist":
      return String(value);
    case "boolean":
      return value === true;
    case "instance":
      return schema.class ? new schema.class(value) : value;
    case "optional":
    case "exact_optional":
      return value === undefined ? undefined : plain(schema.wrapped!, value);
    case "object":
    case "strict_object": {
      if (typeof value !== "object" || value === null) return value;
      const out: Record<string, unknown> = {};
      for (const [key, entry] of Object.entries(schema.entries ?? {})) {
        const field = (value as Record<string, unknown>)[key];
        if (field !== undefined) out[key] = plain(entry, field);
      }
      return out;
    }
    default:
      return value;
  }
}

const requests = Object.fromEntries(
  Object.entries(REQUESTS).map(([name, { channel, args }]) => {
    const params = (args as unknown as { items: SchemaShape[] }).items;
    // Exactly the declared arguments: extra ones are dropped, missing ones left for main to refuse.
    return [name, (...given: unknown[]) => ipcRenderer.invoke(channel, ...params.slice(0, given.length).map((p, i) => plain(p, given[i])))];
  }),
);

const events = Object.fromEntries(
  Object.entries(EVENTS).map(([name, { channels }]) => [
    name,
    (listener: (event: unknown) => void) => {
      // Only the event payload is passed on: the IpcRendererEvent would expose `sender` (ipcRenderer).
      const wrap = (_event: unknown, data: unknown): void => listener(data);
      for (const ch of channels) ipcRenderer.on(ch, wrap);
      return () => {
        for (const ch of channels) ipcRenderer.removeListener(ch, wrap);
      };
    },
  ]),
);

const api = { ...requests, ...events, initial: { role: arg<DeviceRole>("role", DEVICE_ROLES), side: arg<ChannelSide>("side", CHANNEL_SIDES) } } as QrLoginApi;

contextBridge.exposeInMainWorld("qrLogin", api);
