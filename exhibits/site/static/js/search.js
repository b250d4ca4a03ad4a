// Offline search over search.json: free text (title, description, subjects, place, date, in
// every language; case- and accent-insensitive) and the subject, place and era filters. It
// hides the non-matching entries of the plain item list and says how many are shown.

export function fold(text) {
  return String(text ?? '')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLocaleLowerCase('und');
}

function values(map) {
  return map && typeof map === 'object' ? Object.values(map) : [];
}

export function haystack(item) {
  const parts = [
    ...values(item.title),
    ...values(item.description),
    ...(item.subjects || []),
    item.place || '',
    item.date || '',
  ];
  return fold(parts.join('\n'));
}

export function matches(item, text, filters) {
  if (filters.subject && !(item.subjects || []).includes(filters.subject)) return false;
  if (filters.place && item.place !== filters.place) return false;
  if (filters.era && item.era !== filters.era) return false;
  const words = fold(text).split(/\s+/u).filter(Boolean);
  if (words.length === 0) return true;
  const hay = item._hay || (item._hay = haystack(item));
  return words.every((word) => hay.includes(word));
}

// The page's interface words (exhibits/ui_text.py), in the site's language: the page data
// `<script type="application/json" id="ui-text">`; English when a page has none.
function uiWord(key, fallback) {
  const node = document.getElementById('ui-text');
  if (!node) return fallback;
  try {
    const words = JSON.parse(node.textContent || '{}');
    return typeof words[key] === 'string' ? words[key] : fallback;
  } catch {
    return fallback;
  }
}

async function start() {
  const form = document.getElementById('search');
  const list = document.getElementById('item-list');
  if (!form || !list) return;
  const input = document.getElementById('search-text');
  const count = document.getElementById('search-count');
  const selects = {
    subject: document.getElementById('filter-subject'),
    place: document.getElementById('filter-place'),
    era: document.getElementById('filter-era'),
  };
  const source = form.dataset.search || 'search.json';
  let index;
  try {
    const response = await fetch(new URL(source, document.baseURI));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    index = await response.json();
  } catch (error) {
    if (count) count.textContent = uiWord('search.unavailable', 'Search is unavailable: the search index could not be loaded.');
    return;
  }
  const byId = new Map((index.items || []).map((item) => [item.id, item]));
  const rows = [...list.querySelectorAll('li[data-item]')];

  function update() {
    const filters = {};
    for (const [name, select] of Object.entries(selects)) filters[name] = select ? select.value : '';
    const text = input ? input.value : '';
    let shown = 0;
    for (const row of rows) {
      const item = byId.get(row.dataset.item);
      const visible = item ? matches(item, text, filters) : !text && !Object.values(filters).some(Boolean);
      row.hidden = !visible;
      if (visible) shown += 1;
    }
    if (count) {
      count.textContent = shown === rows.length
        ? `${rows.length} ${rows.length === 1 ? uiWord('search.item', 'item') : uiWord('search.items', 'items')}`
        : `${shown} ${uiWord('search.of', 'of')} ${rows.length} ${uiWord('search.match', 'items match')}`;
    }
    document.dispatchEvent(new CustomEvent('heritage:search', { detail: { shown } }));
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    update();
  });
  if (input) input.addEventListener('input', update);
  for (const select of Object.values(selects)) if (select) select.addEventListener('change', update);
  update();
  form.dataset.ready = 'true';
}

if (typeof document !== 'undefined') start();
