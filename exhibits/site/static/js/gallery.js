// The 3D gallery of index.html: builds a three.js room from gallery.json (walls, floor, lights
// of the theme, image panels, models on plinths, screens and sound objects for recordings),
// with keyboard, mouse and touch navigation and WebXR where the device offers it. Clicking an
// item opens its page; clicking a recording plays or pauses it (nothing plays by itself).
// Without WebGL the page keeps its plain list of items and this script does nothing else.
// Every file it loads comes from the site itself (decoders included): no outside request.

import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { KTX2Loader } from 'three/addons/loaders/KTX2Loader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';
import { VRButton } from 'three/addons/webxr/VRButton.js';
import { ARButton } from 'three/addons/webxr/ARButton.js';
import { RoomEnvironment } from 'three/addons/environments/RoomEnvironment.js';

const THEMES = {
  gallery: {
    background: 0xf4f1ea, wall: 0xf7f4ee, floor: 0xb9a58a, plinth: 0xffffff, frame: 0x3b3128,
    text: '#1b1b1b', label: '#f7f4ee', hemisphere: [0xfffaf0, 0x8a7a66, 1.6], sun: 1.4, spots: false,
    environment: 0.3,
  },
  night: {
    background: 0x0c0d12, wall: 0x23252e, floor: 0x15161b, plinth: 0x2e3039, frame: 0x0a0a0a,
    text: '#f2f2f2', label: '#15161b', hemisphere: [0x6670a0, 0x111118, 0.45], sun: 0.15, spots: true,
    environment: 0.12,
  },
  contrast: {
    background: 0x000000, wall: 0xffffff, floor: 0x000000, plinth: 0xffffff, frame: 0x000000,
    text: '#000000', label: '#ffffff', hemisphere: [0xffffff, 0xffffff, 2.5], sun: 0, spots: false,
    environment: 0.4,
  },
};

const EYE = 1.6;
const WALL = 0.1;
const SPEED = 2.2; // metres per second when walking
const TURN = 1.6; // radians per second when turning by key
const MAX_SPOTS = 12; // spot lights cost a shader pass each; past this the ambient light does

const reduceMotion = () => window.matchMedia('(prefers-reduced-motion: reduce)').matches;

function webglAvailable() {
  try {
    const context = window.WebGL2RenderingContext && document.createElement('canvas').getContext('webgl2');
    if (!context) return false;
    // Browsers cap the live WebGL contexts of a page: this probe gives its own back.
    const lose = context.getExtension('WEBGL_lose_context');
    if (lose) lose.loseContext();
    return true;
  } catch {
    return false;
  }
}

function labelTexture(text, theme) {
  const canvas = document.createElement('canvas');
  canvas.width = 512;
  canvas.height = 96;
  const context = canvas.getContext('2d');
  context.fillStyle = theme.label;
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = theme.text;
  context.font = '36px sans-serif';
  context.textBaseline = 'middle';
  let line = text;
  while (line.length > 1 && context.measureText(line).width > canvas.width - 32) line = line.slice(0, -1);
  if (line !== text) line = line.slice(0, -1) + '…';
  context.fillText(line, 16, canvas.height / 2);
  const texture = new THREE.CanvasTexture(canvas);
  texture.colorSpace = THREE.SRGBColorSpace;
  return texture;
}

// A room's four walls, leaving an opening for each door in the east and west walls.
function addRoom(scene, room, theme) {
  const [ox, oz] = room.origin;
  const { width, depth, height } = room;
  const wallMaterial = new THREE.MeshStandardMaterial({ color: theme.wall, roughness: 0.9 });
  const floor = new THREE.Mesh(
    new THREE.PlaneGeometry(width, depth),
    new THREE.MeshStandardMaterial({ color: theme.floor, roughness: 0.8 }),
  );
  floor.rotation.x = -Math.PI / 2;
  floor.position.set(ox + width / 2, 0, oz + depth / 2);
  scene.add(floor);
  const box = (w, h, d, x, y, z) => {
    const mesh = new THREE.Mesh(new THREE.BoxGeometry(w, h, d), wallMaterial);
    mesh.position.set(x, y, z);
    scene.add(mesh);
  };
  box(width, height, WALL, ox + width / 2, height / 2, oz - WALL / 2);
  box(width, height, WALL, ox + width / 2, height / 2, oz + depth + WALL / 2);
  for (const side of ['west', 'east']) {
    const x = side === 'west' ? ox - WALL / 2 : ox + width + WALL / 2;
    const doors = room.doors.filter((door) => door.wall === side).sort((a, b) => a.offset - b.offset);
    let from = 0;
    for (const door of doors) {
      const start = door.offset - door.width / 2;
      if (start > from) box(WALL, height, start - from, x, height / 2, oz + (from + start) / 2);
      box(WALL, height - door.height, door.width, x, (height + door.height) / 2, oz + door.offset);
      from = door.offset + door.width / 2;
    }
    if (from < depth) box(WALL, height, depth - from, x, height / 2, oz + (from + depth) / 2);
  }
  if (room.title) {
    const label = new THREE.Mesh(
      new THREE.PlaneGeometry(2.4, 0.45),
      new THREE.MeshBasicMaterial({ map: labelTexture(room.title, theme) }),
    );
    label.position.set(ox + width / 2, height - 0.4, oz + 0.01);
    scene.add(label);
  }
}

function siteUrl(path, base) {
  return path ? new URL(path, base).href : null;
}

class Gallery {
  constructor(container, document_, base) {
    this.container = container;
    this.doc = document_;
    this.base = base;
    this.theme = THEMES[document_.theme] || THEMES.gallery;
    this.clickable = [];
    this.spinning = [];
    this.keys = new Set();
    this.media = new Map();
    this.pending = 0;
    // Timer, not Clock (deprecated in three r183: it logs a warning on every page).
    this.clock = new THREE.Timer();
    this.clock.connect(document);
  }

  build() {
    const theme = this.theme;
    this.renderer = new THREE.WebGLRenderer({ antialias: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.outputColorSpace = THREE.SRGBColorSpace;
    this.renderer.xr.enabled = true;
    const canvas = this.renderer.domElement;
    canvas.tabIndex = 0;
    canvas.setAttribute('role', 'application');
    canvas.setAttribute(
      'aria-label',
      `3D gallery: ${this.doc.title}. Arrow keys or W A S D to walk, drag to look, ` +
        'click an item to open its page. The list of items below holds the same items.',
    );
    this.container.replaceChildren(canvas); // in place of the loading line

    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(theme.background);
    this.camera = new THREE.PerspectiveCamera(70, 1, 0.05, 200);
    this.camera.rotation.order = 'YXZ';
    // The visitor starts in a corner of the first room by its south wall, looking across the
    // room to the far wall, so that the plinths in the middle hide little.
    const first = this.doc.rooms[0];
    const [x, z] = [first.origin[0] + 1.2, first.origin[1] + first.depth - 1.2];
    this.camera.position.set(x, EYE, z);
    const [tx, tz] = [first.origin[0] + first.width * 0.6, first.origin[1]];
    this.yaw = Math.atan2(-(tx - x), -(tz - z));
    this.pitch = 0;

    const [sky, ground, intensity] = theme.hemisphere;
    this.scene.add(new THREE.HemisphereLight(sky, ground, intensity));
    if (theme.sun > 0) {
      const sun = new THREE.DirectionalLight(0xffffff, theme.sun);
      sun.position.set(3, 10, 6);
      this.scene.add(sun);
    }
    // Reflections for metallic models (a hemisphere light alone leaves them black), made here
    // from a generated room: no environment file to fetch.
    const pmrem = new THREE.PMREMGenerator(this.renderer);
    this.scene.environment = pmrem.fromScene(new RoomEnvironment(), 0.04).texture;
    this.scene.environmentIntensity = theme.environment;
    pmrem.dispose();
    for (const room of this.doc.rooms) addRoom(this.scene, room, theme);

    this.gltf = new GLTFLoader();
    const vendor = new URL('assets/vendor/', this.base);
    const draco = new DRACOLoader();
    draco.setDecoderPath(new URL('draco/', vendor).href);
    this.gltf.setDRACOLoader(draco);
    const ktx2 = new KTX2Loader();
    ktx2.setTranscoderPath(new URL('basis/', vendor).href);
    ktx2.detectSupport(this.renderer);
    this.gltf.setKTX2Loader(ktx2);
    this.gltf.setMeshoptDecoder(MeshoptDecoder);
    this.textures = new THREE.TextureLoader();

    let spots = 0;
    for (const entry of this.doc.entries) {
      if (entry.kind === 'model') this.addModel(entry);
      else this.addPanel(entry);
      if (theme.spots && spots < MAX_SPOTS) {
        spots += 1;
        this.addSpot(entry);
      }
    }
    this.bindControls(canvas);
    this.resize();
    new ResizeObserver(() => this.resize()).observe(this.container);
    this.renderer.setAnimationLoop(() => this.frame());
    // The rooms are drawn now, not at the next animation frame: a page shot as soon as the
    // gallery is built shows them (models and pictures appear as they arrive).
    this.frame();
    this.offerXR();
  }

  track(promise) {
    this.pending += 1;
    this.container.dataset.pending = String(this.pending);
    promise
      .catch((error) => console.warn(`gallery: ${error.message || error}`))
      .finally(() => {
        this.pending -= 1;
        this.container.dataset.pending = String(this.pending);
      });
  }

  place(object, entry) {
    const [x, y, z] = entry.position;
    object.position.set(x, y, z);
    object.rotation.y = entry.rotation_y;
    this.scene.add(object);
  }

  addLabel(group, entry, below) {
    const label = new THREE.Mesh(
      new THREE.PlaneGeometry(1.2, 0.225),
      new THREE.MeshBasicMaterial({ map: labelTexture(entry.title, this.theme) }),
    );
    label.position.set(0, below, 0.02);
    label.userData = { entry, action: 'open' };
    group.add(label);
    this.clickable.push(label);
  }

  addPanel(entry) {
    const [width, height] = entry.size;
    const group = new THREE.Group();
    const frame = new THREE.Mesh(
      new THREE.BoxGeometry(width + 0.08, height + 0.08, 0.04),
      new THREE.MeshStandardMaterial({ color: this.theme.frame, roughness: 0.6 }),
    );
    frame.position.z = 0.02;
    group.add(frame);
    const material = new THREE.MeshBasicMaterial({ color: 0xffffff });
    const panel = new THREE.Mesh(new THREE.PlaneGeometry(width, height), material);
    panel.position.z = 0.045;
    const playable = (entry.kind === 'audio' || entry.kind === 'video') && entry.media;
    panel.userData = { entry, action: playable ? 'play' : 'open', material };
    group.add(panel);
    this.clickable.push(panel);
    const image = siteUrl(entry.image, this.base);
    if (image) {
      this.track(
        this.textures.loadAsync(image).then((texture) => {
          texture.colorSpace = THREE.SRGBColorSpace;
          material.map = texture;
          material.needsUpdate = true;
        }),
      );
    }
    if (entry.kind === 'audio') {
      // A small speaker under the panel marks a sound object.
      const speaker = new THREE.Mesh(
        new THREE.CylinderGeometry(0.12, 0.16, 0.12, 24),
        new THREE.MeshStandardMaterial({ color: this.theme.frame }),
      );
      speaker.rotation.x = Math.PI / 2;
      speaker.position.set(width / 2 + 0.25, -height / 2 + 0.16, 0.08);
      speaker.userData = panel.userData;
      group.add(speaker);
      this.clickable.push(speaker);
    }
    this.addLabel(group, entry, -height / 2 - 0.25);
    this.place(group, entry);
  }

  addModel(entry) {
    const [footprint, top] = entry.size;
    const group = new THREE.Group();
    const plinth = new THREE.Mesh(
      new THREE.BoxGeometry(footprint, top, footprint),
      new THREE.MeshStandardMaterial({ color: this.theme.plinth, roughness: 0.7 }),
    );
    plinth.position.y = -top / 2;
    plinth.userData = { entry, action: 'open' };
    group.add(plinth);
    this.clickable.push(plinth);
    this.addLabel(group, entry, -top + 0.3);
    group.children[group.children.length - 1].position.z = footprint / 2 + 0.01;
    this.place(group, entry);
    const url = siteUrl(entry.model, this.base);
    if (!url) return;
    this.track(
      this.gltf.loadAsync(url).then((gltf) => {
        const model = gltf.scene;
        // Fit the model into the space above its plinth: at most the footprint across and
        // one metre high, standing on the plinth.
        const bounds = new THREE.Box3().setFromObject(model);
        const size = bounds.getSize(new THREE.Vector3());
        const scale = Math.min(footprint / Math.max(size.x, size.z, 1e-6), 1.0 / Math.max(size.y, 1e-6));
        model.scale.setScalar(scale);
        const centre = bounds.getCenter(new THREE.Vector3()).multiplyScalar(scale);
        model.position.set(-centre.x, -bounds.min.y * scale, -centre.z);
        const holder = new THREE.Group();
        holder.add(model);
        model.traverse((node) => {
          if (node.isMesh) {
            node.userData = { entry, action: 'open' };
            this.clickable.push(node);
          }
        });
        group.add(holder);
        this.spinning.push(holder);
      }),
    );
  }

  addSpot(entry) {
    const [x, y, z] = entry.position;
    const spot = new THREE.SpotLight(0xfff2d8, 18, 8, Math.PI / 7, 0.4, 1.5);
    const out = entry.kind === 'model' ? 0 : entry.rotation_y === 0 ? 1.8 : -1.8;
    spot.position.set(x, 3.3, z + out);
    spot.target.position.set(x, y, z);
    this.scene.add(spot, spot.target);
  }

  media_(entry) {
    let element = this.media.get(entry.id);
    if (!element) {
      element = document.createElement(entry.kind === 'video' ? 'video' : 'audio');
      element.src = siteUrl(entry.media, this.base);
      element.preload = 'none';
      element.playsInline = true;
      this.media.set(entry.id, element);
    }
    return element;
  }

  activate(object) {
    const { entry, action, material } = object.userData;
    if (action === 'play') {
      const element = this.media_(entry);
      for (const [id, other] of this.media) if (id !== entry.id) other.pause();
      if (element.paused) {
        if (entry.kind === 'video' && material && !(material.map instanceof THREE.VideoTexture)) {
          const texture = new THREE.VideoTexture(element);
          texture.colorSpace = THREE.SRGBColorSpace;
          material.map = texture;
          material.needsUpdate = true;
        }
        element.play().catch((error) => console.warn(`gallery: ${error.message}`));
      } else {
        element.pause();
      }
      return;
    }
    window.location.href = new URL(entry.href, this.base).href;
  }

  pick(clientX, clientY) {
    const rect = this.renderer.domElement.getBoundingClientRect();
    const pointer = new THREE.Vector2(
      ((clientX - rect.left) / rect.width) * 2 - 1,
      -((clientY - rect.top) / rect.height) * 2 + 1,
    );
    const ray = new THREE.Raycaster();
    ray.setFromCamera(pointer, this.camera);
    const hit = ray.intersectObjects(this.clickable, false)[0];
    if (hit) this.activate(hit.object);
  }

  bindControls(canvas) {
    let drag = null;
    canvas.addEventListener('pointerdown', (event) => {
      drag = { x: event.clientX, y: event.clientY, sx: event.clientX, sy: event.clientY, touch: event.pointerType === 'touch' };
      try {
        canvas.setPointerCapture(event.pointerId);
      } catch {
        // a pointer the browser no longer tracks: the drag still works inside the canvas
      }
    });
    canvas.addEventListener('pointermove', (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      drag.x = event.clientX;
      drag.y = event.clientY;
      this.yaw += dx * 0.005;
      if (drag.touch) {
        // One finger: sideways turns, up and down walks (a phone has no keys).
        this.walk(dy * 0.02, 0);
      } else {
        this.pitch = Math.max(-1.2, Math.min(1.2, this.pitch + dy * 0.005));
      }
    });
    canvas.addEventListener('pointerup', (event) => {
      if (drag && Math.hypot(event.clientX - drag.sx, event.clientY - drag.sy) < 6) {
        this.pick(event.clientX, event.clientY);
      }
      drag = null;
    });
    canvas.addEventListener('pointercancel', () => {
      drag = null;
    });
    canvas.addEventListener('keydown', (event) => {
      const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
      if (!['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'w', 'a', 's', 'd'].includes(key)) return;
      event.preventDefault();
      if (reduceMotion()) {
        // No gliding: each key press is one step or one eighth of a turn.
        this.step(key);
      } else {
        this.keys.add(key);
      }
    });
    canvas.addEventListener('keyup', (event) => {
      this.keys.delete(event.key.length === 1 ? event.key.toLowerCase() : event.key);
    });
    canvas.addEventListener('blur', () => this.keys.clear());
  }

  step(key) {
    if (key === 'ArrowLeft') this.yaw += Math.PI / 8;
    else if (key === 'ArrowRight') this.yaw -= Math.PI / 8;
    else if (key === 'ArrowUp' || key === 'w') this.walk(1, 0);
    else if (key === 'ArrowDown' || key === 's') this.walk(-1, 0);
    else if (key === 'a') this.walk(0, -1);
    else if (key === 'd') this.walk(0, 1);
  }

  roomAt(x) {
    return this.doc.rooms.find((room) => x >= room.origin[0] && x <= room.origin[0] + room.width);
  }

  // Moves the visitor, who stays inside the rooms and goes from one to the next by a door.
  walk(forward, sideways) {
    const position = this.camera.position;
    const dx = -Math.sin(this.yaw) * forward + Math.cos(this.yaw) * sideways;
    const dz = -Math.cos(this.yaw) * forward - Math.sin(this.yaw) * sideways;
    const margin = 0.35;
    const here = this.roomAt(position.x) || this.doc.rooms[0];
    let x = position.x + dx;
    let z = position.z + dz;
    const there = this.roomAt(x);
    if (!there) {
      x = Math.max(here.origin[0] + margin, Math.min(here.origin[0] + here.width - margin, x));
    } else if (there !== here) {
      const door = here.doors.find(
        (d) => d.to === this.doc.rooms.indexOf(there) && Math.abs(z - here.origin[1] - d.offset) < d.width / 2 - margin,
      );
      if (!door) x = Math.max(here.origin[0] + margin, Math.min(here.origin[0] + here.width - margin, x));
    } else {
      const nearDoor = here.doors.some(
        (d) => Math.abs(z - here.origin[1] - d.offset) < d.width / 2 - margin &&
          (d.wall === 'west' ? x < here.origin[0] + margin : x > here.origin[0] + here.width - margin),
      );
      if (!nearDoor) x = Math.max(here.origin[0] + margin, Math.min(here.origin[0] + here.width - margin, x));
    }
    const room = this.roomAt(x) || here;
    z = Math.max(room.origin[1] + margin, Math.min(room.origin[1] + room.depth - margin, z));
    position.x = x;
    position.z = z;
  }

  frame() {
    this.clock.update();
    const delta = Math.min(this.clock.getDelta(), 0.1);
    if (this.keys.size) {
      if (this.keys.has('ArrowLeft')) this.yaw += TURN * delta;
      if (this.keys.has('ArrowRight')) this.yaw -= TURN * delta;
      const forward = (this.keys.has('ArrowUp') || this.keys.has('w') ? 1 : 0) - (this.keys.has('ArrowDown') || this.keys.has('s') ? 1 : 0);
      const sideways = (this.keys.has('d') ? 1 : 0) - (this.keys.has('a') ? 1 : 0);
      if (forward || sideways) this.walk(forward * SPEED * delta, sideways * SPEED * delta);
    }
    if (!reduceMotion()) for (const holder of this.spinning) holder.rotation.y += delta * 0.3;
    if (!this.renderer.xr.isPresenting) {
      this.camera.rotation.set(this.pitch, this.yaw, 0);
    }
    this.renderer.render(this.scene, this.camera);
    if (this.container.dataset.state !== 'ready') this.container.dataset.state = 'ready';
  }

  resize() {
    const width = this.container.clientWidth || 640;
    const height = this.container.clientHeight > 10 ? this.container.clientHeight : Math.round(width * 9 / 16);
    this.renderer.setSize(width, height, true);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
  }

  async offerXR() {
    const holder = document.getElementById('xr-buttons');
    if (!holder || !navigator.xr) return;
    const buttons = [];
    try {
      if (await navigator.xr.isSessionSupported('immersive-vr')) buttons.push(VRButton.createButton(this.renderer));
      if (await navigator.xr.isSessionSupported('immersive-ar')) buttons.push(ARButton.createButton(this.renderer));
    } catch (error) {
      console.warn(`gallery: WebXR is not offered here (${error.message})`);
      return;
    }
    for (const button of buttons) {
      // The buttons come positioned over a full-page canvas; here they sit in their own box.
      button.style.position = 'static';
      button.style.left = '';
      button.style.bottom = '';
      holder.append(button);
    }
  }
}

async function start() {
  const container = document.getElementById('gallery');
  if (!container) return;
  if (!webglAvailable()) {
    container.dataset.state = 'unavailable';
    return;
  }
  // Until the gallery draws (it fetches gallery.json, then builds the rooms), the box says
  // so: a headless screenshot taken at the page's load event showed it blank, as if broken.
  container.dataset.state = 'loading';
  const status = document.createElement('p');
  status.className = 'gallery-status';
  status.textContent = 'Loading the 3D gallery…';
  container.replaceChildren(status);
  const base = new URL(document.baseURI);
  const source = new URL(container.dataset.gallery || 'gallery.json', base);
  try {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`gallery.json: HTTP ${response.status}`);
    const document_ = await response.json();
    if (document_.version !== 1 || !Array.isArray(document_.rooms) || !document_.rooms.length) {
      throw new Error('gallery.json is not a version 1 gallery');
    }
    const gallery = new Gallery(container, document_, new URL('.', source));
    gallery.build();
    window.heritageGallery = gallery;
  } catch (error) {
    container.dataset.state = 'unavailable';
    container.replaceChildren();
    console.warn(`gallery: ${error.message}`);
  }
}

start();
