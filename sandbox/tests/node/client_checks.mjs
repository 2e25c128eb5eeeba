// Drives a sandbox cluster with the official Kubernetes JavaScript client,
// @kubernetes/client-node 1.x (issue 14).
//
// Usage: node client_checks.mjs KUBECONFIG CONTEXT
// Prints one line per check, `ok NAME` or `FAIL NAME: why`, then `N passed, M failed`.
// Exits 1 if any check failed.

import { PassThrough, Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';

const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]);
kc.setCurrentContext(process.argv[3]);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const NS = 'nodeclient';
const results = [];

const as = (strategy) => k8s.setHeaderOptions('Content-Type', strategy);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, why) {
  if (!cond) throw new Error(typeof why === 'string' ? why : JSON.stringify(why));
}

async function check(name, fn) {
  try {
    await fn();
    results.push([name, null]);
  } catch (e) {
    const body = e && e.body ? ` ${typeof e.body === 'string' ? e.body : JSON.stringify(e.body)}` : '';
    results.push([name, `${e && e.message ? e.message : e}${body}`.slice(0, 400)]);
  }
}

async function expectStatus(code, fn) {
  try {
    await fn();
  } catch (e) {
    assert(e.code === code, `expected ${code}, got ${e.code}: ${e.body}`);
    return e;
  }
  throw new Error(`expected ${code}, the call succeeded`);
}

async function waitFor(what, pred, seconds = 20) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const v = await pred();
    if (v) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

await core.createNamespace({ body: { metadata: { name: NS } } });

await check('configmap create, read, replace, list by label', async () => {
  await core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name: 'one', labels: { app: 'demo' } }, data: { a: '1' } },
  });
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'other' } } });
  const cm = await core.readNamespacedConfigMap({ name: 'one', namespace: NS });
  assert(cm.data.a === '1', cm);
  cm.data.a = '2';
  const replaced = await core.replaceNamespacedConfigMap({ name: 'one', namespace: NS, body: cm });
  assert(replaced.data.a === '2', replaced);
  const list = await core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'app=demo' });
  assert(list.items.length === 1 && list.items[0].metadata.name === 'one', list.items);
  cm.data.a = '3';
  await expectStatus(409, () => core.replaceNamespacedConfigMap({ name: 'one', namespace: NS, body: cm }));
});

await check('patch: json, merge, strategic merge', async () => {
  await core.patchNamespacedConfigMap(
    { name: 'one', namespace: NS, body: [{ op: 'add', path: '/data/b', value: 'x' }] },
    as(k8s.PatchStrategy.JsonPatch),
  );
  await core.patchNamespacedConfigMap(
    { name: 'one', namespace: NS, body: { data: { c: 'y' } } },
    as(k8s.PatchStrategy.MergePatch),
  );
  const cm = await core.patchNamespacedConfigMap(
    { name: 'one', namespace: NS, body: { metadata: { labels: { tier: 'web' } } } },
    as(k8s.PatchStrategy.StrategicMergePatch),
  );
  assert(cm.data.b === 'x' && cm.data.c === 'y' && cm.metadata.labels.tier === 'web', cm);
});

await check('server-side apply creates, records its manager and conflicts', async () => {
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: NS }, data: { k: 'v' } };
  const created = await core.patchNamespacedConfigMap(
    { name: 'ssa', namespace: NS, body, fieldManager: 'first' },
    as(k8s.PatchStrategy.ServerSideApply),
  );
  assert(created.metadata.managedFields.some((m) => m.manager === 'first' && m.operation === 'Apply'), created.metadata);
  const other = { ...body, data: { k: 'w' } };
  const e = await expectStatus(409, () =>
    core.patchNamespacedConfigMap(
      { name: 'ssa', namespace: NS, body: other, fieldManager: 'second' },
      as(k8s.PatchStrategy.ServerSideApply),
    ),
  );
  assert(String(e.body).includes('conflict'), e.body);
  const forced = await core.patchNamespacedConfigMap(
    { name: 'ssa', namespace: NS, body: other, fieldManager: 'second', force: true },
    as(k8s.PatchStrategy.ServerSideApply),
  );
  assert(forced.data.k === 'w', forced);
});

await check('watch sees added, modified and deleted', async () => {
  const seen = [];
  const watch = new k8s.Watch(kc);
  const ended = new Promise((resolve) => {
    watch
      .watch(
        `/api/v1/namespaces/${NS}/configmaps`,
        { labelSelector: 'watched=yes' },
        (type, obj) => seen.push(`${type} ${obj.metadata.name}`),
        resolve,
      )
      .then((ctl) => {
        watch.controller = ctl;
      });
  });
  await waitFor('the watch to start', () => watch.controller);
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'w', labels: { watched: 'yes' } } } });
  await core.patchNamespacedConfigMap(
    { name: 'w', namespace: NS, body: { data: { a: 'b' } } },
    as(k8s.PatchStrategy.MergePatch),
  );
  await core.deleteNamespacedConfigMap({ name: 'w', namespace: NS });
  await waitFor('three events', () => seen.length >= 3, 10);
  watch.controller.abort();
  await Promise.race([ended, sleep(2000)]);
  assert(JSON.stringify(seen) === JSON.stringify(['ADDED w', 'MODIFIED w', 'DELETED w']), seen);
});

await check('pagination with limit and continue', async () => {
  for (let i = 0; i < 5; i++) {
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: `page-${i}`, labels: { page: 'y' } } } });
  }
  const names = [];
  let token;
  let pages = 0;
  do {
    const page = await core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'page=y', limit: 2, _continue: token });
    names.push(...page.items.map((c) => c.metadata.name));
    token = page.metadata._continue;
    pages++;
  } while (token && pages < 10);
  assert(pages === 3, `pages ${pages}`);
  assert(JSON.stringify(names) === JSON.stringify([0, 1, 2, 3, 4].map((i) => `page-${i}`)), names);
});

await check('delete with preconditions', async () => {
  const cm = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'pre' } } });
  await expectStatus(409, () =>
    core.deleteNamespacedConfigMap({
      name: 'pre',
      namespace: NS,
      body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } },
    }),
  );
  await expectStatus(409, () =>
    core.deleteNamespacedConfigMap({ name: 'pre', namespace: NS, body: { preconditions: { resourceVersion: '1' } } }),
  );
  await core.deleteNamespacedConfigMap({ name: 'pre', namespace: NS, body: { preconditions: { uid: cm.metadata.uid } } });
  await expectStatus(404, () => core.readNamespacedConfigMap({ name: 'pre', namespace: NS }));
});

await check('deployment scale and status subresources', async () => {
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'example.invalid/web:1' }] } },
      },
    },
  });
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 2 } } },
    as(k8s.PatchStrategy.MergePatch),
  );
  const scale = await apps.readNamespacedDeploymentScale({ name: 'web', namespace: NS });
  assert(scale.spec.replicas === 2 && scale.status.selector === 'app=web', scale);
  await waitFor('two ready replicas', async () => {
    const d = await apps.readNamespacedDeploymentStatus({ name: 'web', namespace: NS });
    return d.status && d.status.readyReplicas === 2;
  });
});

await check('custom resource with status subresource and schema validation', async () => {
  await ext.createCustomResourceDefinition({
    body: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer', maximum: 5 } } },
                  status: { type: 'object', properties: { phase: { type: 'string' } } },
                },
              },
            },
          },
        ],
      },
    },
  });
  const w = { group: 'example.com', version: 'v1', namespace: NS, plural: 'widgets' };
  await custom.createNamespacedCustomObject({
    ...w,
    body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 2 }, status: { phase: 'ignored' } },
  });
  const got = await custom.getNamespacedCustomObject({ ...w, name: 'w' });
  assert(!got.status, got);
  await custom.patchNamespacedCustomObjectStatus(
    { ...w, name: 'w', body: { status: { phase: 'Ready' } } },
    as(k8s.PatchStrategy.MergePatch),
  );
  const status = await custom.getNamespacedCustomObjectStatus({ ...w, name: 'w' });
  assert(status.status.phase === 'Ready' && status.spec.size === 2, status);
  const e = await expectStatus(422, () =>
    custom.patchNamespacedCustomObject({ ...w, name: 'w', body: { spec: { size: 9 } } }, as(k8s.PatchStrategy.MergePatch)),
  );
  assert(String(e.body).includes('spec.size in body should be less than or equal to 5'), e.body);
});

await check('pod exec (stdout, stderr, stdin, exit status, tty) and logs', async () => {
  await core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name: 'box' }, spec: { containers: [{ name: 'main', image: 'example.invalid/box:1' }] } },
  });
  await waitFor('pod running', async () => (await core.readNamespacedPod({ name: 'box', namespace: NS })).status.phase === 'Running');
  const run = (command, input, tty = false) =>
    new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      stdout.on('data', (d) => (out += d));
      stderr.on('data', (d) => (err += d));
      const stdin = input === undefined ? null : Readable.from([input]);
      const timer = setTimeout(() => reject(new Error(`exec timed out: ${out} ${err}`)), 15000);
      new k8s.Exec(kc)
        .exec(NS, 'box', 'main', command, stdout, tty ? null : stderr, stdin, tty, (status) => {
          clearTimeout(timer);
          setTimeout(() => resolve({ out, err, status }), 100);
        })
        .catch(reject);
    });
  const a = await run(['sh', '-c', 'echo out; echo err >&2']);
  assert(a.out === 'out\n' && a.err === 'err\n' && a.status.status === 'Success', a);
  const b = await run(['sh', '-c', 'exit 3']);
  assert(b.status.status === 'Failure' && b.status.details.causes[0].message === '3', b);
  const c = await run(['sh', '-c', 'head -c 5'], 'hello from node');
  assert(c.out === 'hello', c);
  const t = await run(['sh', '-c', 'tty; test -t 0 && echo terminal; echo err >&2'], undefined, true);
  assert(t.out.startsWith('/dev/pts/') && t.out.includes('terminal\r\nerr\r\n'), t);
  const logs = await core.readNamespacedPodLog({ name: 'box', namespace: NS });
  assert(typeof logs === 'string', typeof logs);
});

await check('namespace delete is graceful (Terminating, then gone)', async () => {
  await core.createNamespace({ body: { metadata: { name: 'nodeclient-gone' } } });
  const ns = await core.deleteNamespace({ name: 'nodeclient-gone' });
  assert(ns.kind === 'Namespace' || ns.kind === 'Status', ns);
  await waitFor('the namespace to go', async () => {
    try {
      await core.readNamespace({ name: 'nodeclient-gone' });
      return false;
    } catch (e) {
      return e.code === 404;
    }
  });
});

const failed = results.filter(([, err]) => err);
for (const [name, err] of results) console.log(err ? `FAIL ${name}: ${err}` : `ok ${name}`);
console.log(`node-client: ${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
