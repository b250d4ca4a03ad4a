// The verify page: a file chosen or dropped is hashed here, in the browser, with the exhibit
// site's own UnixFS code (verify.js, served from that package), and only its CID is sent, to
// GET /verify/{cid} on this server: the registration default's CID (CIDv1, raw leaves), then,
// when that one is not registered, Kubo's CIDv0. The verdict is written as text nodes (never
// as HTML).

import { unixfsCid } from './verify.js';

const HEADINGS = {
  verified: 'Registered original',
  'keyholders-changed': 'Registered original (its keyholders have changed since they signed)',
  revoked: 'Registered, but its terms are revoked',
  'parent-revoked': 'Registered derivative, but the terms of its parent are revoked',
  disputed: 'Registered by more than one community: disputed',
  'signature-failure': 'Registered, but its signatures do not hold',
  'no-claim': 'Registered by another community',
  tampered: 'Not the registered bytes',
  unknown: 'Not registered',
};

function root() {
  const zone = document.getElementById('verify-drop');
  return zone ? zone.dataset.root || '' : '';
}

function line(parent, tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  parent.append(element);
  return element;
}

function whose(claim) {
  return claim.community_name ? `${claim.community_name} (${claim.community})` : claim.community;
}

async function termsInWords(itemId) {
  const response = await fetch(`${root()}/catalogue/items/${encodeURIComponent(itemId)}/terms.json`);
  if (!response.ok) return null;
  const answer = await response.json();
  return answer.public ? answer : null;
}

// The verdict, built aside and shown at once: data-status changes only when it is complete.
async function render(output, file, cid, report) {
  const verdict = document.createDocumentFragment();
  await describe(verdict, file, cid, report);
  output.replaceChildren(verdict);
  output.dataset.status = report.status;
}

async function describe(output, file, cid, report) {
  line(output, 'h2', HEADINGS[report.status] || report.status, 'verdict-heading');
  line(output, 'p', `${file.name}: CID ${cid}`, 'verdict-cid');
  if (report.status === 'unknown') {
    line(output, 'p', 'No claim on the registry has these bytes. A file changed by even one byte has another CID.', 'verdict-words');
    return;
  }
  const subject = report.item ? report.item.item : null;
  const claim = report.claims.find((c) => c.item === subject) || report.claims[0];
  if (claim) {
    line(output, 'p', `Whose: community ${whose(claim)}, claim ${claim.item}, registered in block ${claim.block_number}.`, 'verdict-whose');
    const terms = claim.terms;
    const stand = terms.revoked ? 'they are revoked: nothing may be shown under them' : 'they still stand';
    line(output, 'p', `Terms: version ${terms.version} (${terms.cid}); ${stand}.`, 'verdict-terms');
    const words = await termsInWords(claim.item);
    if (words && words.terms) {
      const list = document.createElement('ul');
      list.className = 'verdict-terms-words';
      if (words.terms.license) line(list, 'li', `License: ${words.terms.license.name} (${words.terms.license.id})`);
      if (words.terms.rights_statement) line(list, 'li', `Rights: ${words.terms.rights_statement.title}`);
      for (const label of words.terms.labels) line(list, 'li', `Label: ${label.name}${label.code ? ` (${label.code})` : ''}`);
      if (words.attribution) line(list, 'li', `Attribution: ${words.attribution}`);
      output.append(list);
      const more = document.createElement('p');
      const link = document.createElement('a');
      link.href = `${root()}${words.href}`;
      link.textContent = `See “${words.title}” in the catalogue`;
      more.append(link);
      output.append(more);
    } else if (!terms.revoked) {
      line(output, 'p', 'This item is not shown in the public catalogue now.', 'verdict-private');
    }
  }
  line(output, 'p', report.summary, 'verdict-summary');
}

// The verification report of a CID (GET /verify/{cid}), or an Error in the API's words.
async function ask(cid) {
  const response = await fetch(`${root()}/verify/${encodeURIComponent(cid)}`, {
    headers: { Accept: 'application/json' },
  });
  const answer = await response.json();
  if (!response.ok) {
    const error = answer.error || {};
    throw new Error(`${error.message || `HTTP ${response.status}`}${error.hint ? ` (${error.hint})` : ''}`);
  }
  return answer;
}

async function check(output, file) {
  output.replaceChildren();
  output.dataset.status = 'working';
  line(output, 'p', `Computing the CID of ${file.name}…`);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    // As `heritage verify FILE`: the registration default first, then Kubo's CIDv0 default.
    let cid = await unixfsCid(bytes);
    let report = await ask(cid);
    if (report.status === 'unknown') {
      const older = await unixfsCid(bytes, { cidVersion: 0 });
      const second = await ask(older);
      if (second.status !== 'unknown') {
        cid = older;
        report = second;
      }
    }
    await render(output, file, cid, report);
  } catch (error) {
    output.replaceChildren();
    output.dataset.status = 'error';
    line(output, 'p', `Could not verify: ${error.message}`, 'verdict-error');
  }
}

function start() {
  const input = document.getElementById('verify-file');
  const zone = document.getElementById('verify-drop');
  const output = document.getElementById('verify-verdict');
  if (!input || !zone || !output) return;
  input.addEventListener('change', () => {
    if (input.files && input.files[0]) check(output, input.files[0]);
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) check(output, file);
  });
}

start();
