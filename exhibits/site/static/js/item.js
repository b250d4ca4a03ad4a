// The item page's language switcher: shows the `.l10n[data-lang]` blocks of the chosen
// language, hides the others, and remembers the choice for the next page.

const KEY = 'heritage-language';

function remembered() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; // storage refused (private mode, file://): the page default stays
  }
}

function remember(tag) {
  try {
    localStorage.setItem(KEY, tag);
  } catch {
    // nothing to do: the choice lasts for this page only
  }
}

export function showLanguage(tag) {
  const blocks = [...document.querySelectorAll('.l10n[data-lang]')];
  if (!blocks.some((block) => block.dataset.lang === tag)) return false;
  for (const block of blocks) block.hidden = block.dataset.lang !== tag;
  return true;
}

function start() {
  const select = document.getElementById('language');
  if (!select) return;
  const wanted = remembered();
  if (wanted && [...select.options].some((option) => option.value === wanted)) {
    select.value = wanted;
    showLanguage(wanted);
  }
  select.addEventListener('change', () => {
    if (showLanguage(select.value)) remember(select.value);
  });
}

start();
