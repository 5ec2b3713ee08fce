import type { Command } from 'commander';
import { HttpApi } from '../../api/http-server.js';
import { PublicGate } from '../../api/public-gate.js';
import { sendJson } from '../../api/routes.js';
import { type LogLevel, createLogger } from '../../log/logger.js';
import { DEFAULT_MAX_TOKENS } from '../../serve/request.js';
import { DEFAULT_SERVE_OPTIONS, ServeService } from '../../serve/service.js';
import { apiOptions } from '../../node/options.js';
import { healthRoutes, metricsRoute } from '../../node/status-routes.js';
import { loadAddon, runGeneration } from '../../serve/native.js';
import { addonFromEnv } from '../../serve/options.js';
import { Metrics } from '../../metrics/metrics.js';
import { requestMetrics, serveGauges } from '../../serve/serve-metrics.js';
import { loadServedModel } from '../../serve/served-model.js';
import { encodePrompt } from '../../serve/tokenizer/chat.js';
import { Utf8Stream } from '../../serve/utf8-stream.js';
import { ConfigError, MagnetError } from '../../util/errors.js';
import { formatHostPort, parseHostPort } from '../../util/host-port.js';
import { fail } from '../output.js';

interface ServeFlags {
  model: string;
  api: string;
  apiKeys?: string;
  rate: string;
  maxTokens: string;
  id?: string;
  threads?: string;
  maxConcurrent: string;
  maxQueue: string;
  headInt8?: boolean;
  kvInt8?: boolean;
  ctx?: string;
  logLevel: string;
}

interface GenerateFlags {
  model: string;
  prompt: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  topK: string;
  seed: string;
  stop?: string[];
  threads?: string;
  headInt8?: boolean;
}

function int(value: string | undefined, key: string, lo: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < lo) throw new ConfigError(`${key}: "${value}" must be an integer >= ${lo}`, { key, value });
  return n;
}

function float(value: string, key: string, lo: number, hi: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < lo || n > hi)
    throw new ConfigError(`${key}: "${value}" must be a number in [${lo}, ${hi}]`, { key, value });
  return n;
}

/** `magnet-node serve` (an OpenAI-compatible server without joining a network) and `magnet-node generate`. */
export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('serve a ternary GGUF with the OpenAI-compatible API, without joining a network')
    .requiredOption('--model <file>', 'GGUF model file (the trainer export, TQ2_0/TQ1_0)')
    .option('--api <host:port>', 'listen address', '127.0.0.1:8080')
    .option('--api-keys <file>', 'API keys, one "NAME KEY" per line (default: no key needed)')
    .option(
      '--rate <n>',
      'requests per minute per client (its API key, or its IP address without --api-keys)',
      String(apiOptions.ratePerMinute.default),
    )
    .option('--max-tokens <n>', 'tokens generated for a request that sets no max_tokens', String(DEFAULT_MAX_TOKENS))
    .option('--id <name>', 'model id in /v1/models (default: file name)')
    .option('--threads <n>', 'kernel threads (default: all cores)')
    .option('--max-concurrent <n>', 'requests decoded together', String(DEFAULT_SERVE_OPTIONS.maxConcurrent))
    .option('--max-queue <n>', 'requests allowed to wait before 429', String(DEFAULT_SERVE_OPTIONS.maxQueue))
    .option('--head-int8', 'quantize the LM head to int8 (fewer bytes per token, approximate logits)')
    .option('--kv-int8', 'int8 KV cache')
    .option('--ctx <n>', 'cap the context length')
    .option('--log-level <level>', 'trace|debug|info|warn|error|fatal|silent', 'info')
    .action(async (f: ServeFlags) => {
      const log = createLogger(f.logLevel as LogLevel);
      let svc: ServeService | undefined;
      let api: HttpApi | undefined;
      try {
        const threads = int(f.threads, '--threads', 1);
        const ctx = int(f.ctx, '--ctx', 2);
        svc = new ServeService(
          {
            modelPath: f.model,
            ...(f.id ? { modelId: f.id } : {}),
            ...(threads ? { threads } : {}),
            ...(ctx ? { contextLength: ctx } : {}),
            maxConcurrent: int(f.maxConcurrent, '--max-concurrent', 1) ?? 4,
            maxQueue: int(f.maxQueue, '--max-queue', 0) ?? 16,
            headInt8: f.headInt8 === true,
            kvInt8: f.kvInt8 === true,
            defaultMaxTokens: int(f.maxTokens, '--max-tokens', 1) ?? DEFAULT_MAX_TOKENS,
            addon: addonFromEnv(),
          },
          log.child({ part: 'serve' }),
        );
        await svc.start();
        const gate = new PublicGate(
          {
            ratePerMinute: int(f.rate, '--rate', 1) ?? apiOptions.ratePerMinute.default,
            burst: apiOptions.burst.default,
            maxInFlight: apiOptions.maxInFlight.default,
          },
          f.apiKeys ?? '',
          log,
        );
        api = new HttpApi({ listen: parseHostPort(f.api, '--api'), name: 'API', flag: '--api', gate }, log.child({ part: 'api' }));
        const s = svc;
        // Probes and the scraper carry no API key: /healthz (the process answers), /readyz (a model answers),
        // /metrics (requests, tokens, latency, queue) and /status are open.
        const metrics = new Metrics();
        serveGauges(metrics, () => ({ ...s.status(), serving: s.unready() === undefined }));
        requestMetrics(metrics, s);
        api.add(
          ...svc.routes(),
          { method: 'GET', path: '/status', open: true, handle: async (_q, res) => sendJson(res, 200, s.status()) },
          ...healthRoutes({ ready: () => s.unready() === undefined, unready: () => s.unready() }),
          metricsRoute(metrics, true),
        );
        await api.start();
        process.stdout.write(`serving ${svc.model()?.id} on http://${formatHostPort(api.address)}/v1\n`);
      } catch (err) {
        await api?.stop().catch(() => undefined);
        await svc?.stop().catch(() => undefined);
        fail(err);
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await api.stop();
      await svc.stop();
      process.exit(0);
    });

  program
    .command('generate')
    .description('generate text from a ternary GGUF (a quick look; streams to stdout)')
    .requiredOption('--model <file>', 'GGUF model file')
    .requiredOption('--prompt <text>', 'prompt text')
    .option('--max-tokens <n>', 'tokens to generate', '64')
    .option('--temperature <t>', '0 = greedy', '0.8')
    .option('--top-p <p>', 'nucleus sampling', '0.95')
    .option('--top-k <k>', '0 = off', '0')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--stop <text...>', 'stop sequences')
    .option('--threads <n>', 'kernel threads (default: all cores)')
    .option('--head-int8', 'quantize the LM head to int8')
    .action(async (f: GenerateFlags) => {
      try {
        const threads = int(f.threads, '--threads', 1);
        loadAddon(addonFromEnv());
        const served = await loadServedModel(f.model, { ...(threads ? { threads } : {}), maxBatch: 1, headInt8: f.headInt8 === true });
        const { native: model, info } = served;
        const utf8 = new Utf8Stream();
        const t0 = process.hrtime.bigint();
        const g = runGeneration(
          model,
          Int32Array.from(encodePrompt(served.tokenizer, f.prompt)),
          {
            maxTokens: int(f.maxTokens, '--max-tokens', 1) ?? 64,
            temperature: float(f.temperature, '--temperature', 0, 2),
            topP: float(f.topP, '--top-p', 0, 1),
            topK: int(f.topK, '--top-k', 0) ?? 0,
            seed: int(f.seed, '--seed', 0) ?? 0,
            stop: f.stop ?? [],
          },
          (bytes) => process.stdout.write(utf8.push(bytes)),
        );
        const done = await g.done;
        if (done.finishReason === 'error') throw new MagnetError('ERR_GENERATION', `generation failed: ${done.error}`);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        process.stdout.write(`${utf8.end()}\n`);
        process.stderr.write(
          `[${done.finishReason}; ${done.promptTokens} prompt + ${done.completionTokens} generated tokens in ${ms.toFixed(0)} ms; kernel ${info.kernel}, ${info.threads} threads]\n`,
        );
        model.close();
      } catch (err) {
        fail(err);
      }
    });
}
