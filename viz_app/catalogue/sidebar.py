"""The sidebar (model and image pickers, loading), errors, rendering controls and shared labels."""

EN: dict[str, str] = {
    "none": "none",
    "this_model": "this model",
    # -- errors in the app's words (the library's own sentences stay English)
    "error.offline": "The weights of {name} are not on this computer and the model hub cannot be reached: switch on "
    "“{random}” under the Model menu to explore it untrained, or choose “{checkpoint}” in the Model menu.",
    "error.offline_config": "The configuration of {name} is not on this computer and the model hub cannot be "
    "reached: choose “{checkpoint}” or another model in the Model menu.",
    "error.unexpected": "Something went wrong ({kind}); try another model or image.",
    # -- model menu
    "sidebar.model": "Model",
    "sidebar.begin": "Choose a model and an image in the sidebar to begin.",
    "sidebar.after_error": "This page appears once the model and the image load: see the message above.",
    "model.demo": "Bundled demo model (shapes)",
    "model.tiny_random": "Tiny random ViT (demo model not installed)",
    "model.other_timm": "Other timm ViT name...",
    "model.hf": "Hugging Face model (transformers)...",
    "model.hf_other": "Another hub repository or a local folder...",
    "model.checkpoint": "Local checkpoint (path or upload)...",
    "sidebar.example": "e.g. {example}",
    "sidebar.timm_name": "timm model name",
    "sidebar.timm_hint": "Type the name of any timm ViT (see `timm.list_pretrained('vit_*')`) or a hub repository "
    "with a timm config, as `hf-hub:org/name`.",
    "sidebar.arch": "Architecture (timm name)",
    "sidebar.checkpoint_path": "Checkpoint path on this machine",
    "sidebar.checkpoint_upload": "…or upload a checkpoint",
    "sidebar.checkpoint_hint": "Give the architecture and a .safetensors/.pth/.npz file; nothing is downloaded.",
    "sidebar.random": "Random weights (untrained control)",
    "sidebar.random_help": "The same architecture with timm's own random initialisation (seed {seed}), never these "
    "weights: a map that survives randomisation explains nothing about what the model learned.",
    "sidebar.precision": "Precision",
    "sidebar.image_size": "Image size (px)",
    "sidebar.image_size_help": "This model's own size is {size} px; other sizes resample its position embeddings "
    "to the new grid of {patch} px patches (more patches: finer maps, more memory).",
    "sidebar.repository": "Repository",
    "sidebar.hf_name": "Hub repository or folder",
    "sidebar.hf_hint": "A ViT, DeiT or DINOv2 in the transformers format: a hub repository (`org/name`, optionally "
    "`@revision`) or a folder on this machine written by `save_pretrained` (config.json and model.safetensors).",
    "hf.vit_base": "ViT-B/16, ImageNet-21k pre-training, ImageNet-1k classifier.",
    "hf.vit_base_in21k": "ViT-B/16, ImageNet-21k pre-training, no classifier.",
    "hf.deit_distilled": "DeiT-B/16 with its distillation token, ImageNet-1k.",
    "hf.dino": "DINO ViT-B/16, self-supervised, no classifier.",
    "hf.dinov2": "DINOv2 ViT-S/14, self-supervised, no classifier.",
    "hf.dinov2_registers": "DINOv2 ViT-S/14 with 4 registers, self-supervised, no classifier.",
    # -- image
    "sidebar.sample": "Sample image",
    "sidebar.upload": "Upload an image",
    "sidebar.upload_hint": "PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF, up to 20 MB.",
    # -- loading
    "load.loading": "Loading {name}…",
    "load.from_cache": "Loading {name} from the local cache…",
    "load.about": " (about {mb} MB)",
    "load.first_download": "Downloading {name}{about} on first use; later runs load it from the local cache…",
    "load.progress": "Downloading {name}: {done} of {total} MB",
    "load.downloaded": "Downloaded {name} ({mb} MB).",
    "sidebar.loaded": "**{name}** · {weights} · {device} · {dtype}  \n{depth} layers × {heads} heads · {gh}×{gw} "
    "patches of {ph} px · prefix: {prefix}",
    "sidebar.random_note": "Random weights: the untrained control. Whatever structure these pictures show comes "
    "from the architecture and the image, not from training.",
    "weights.random": "random weights (timm's initialisation, seed {seed})",
    "weights.demo": "bundled",
    "weights.hub": "pretrained",
    "weights.checkpoint": "checkpoint",
    # -- outside the bundled model's domain
    "domain.six_shapes": "six shapes",
    "domain.cached": "already on this machine",
    "domain.download": "downloads about 88 MB once, so it needs the network the first time",
    "domain.notice": "This image is not one of the bundled model's generated scenes. That model knows only six "
    "synthetic shapes ({classes}) on generated backgrounds, so the probabilities below are only its pick among "
    "those shapes, however confident they look. For photos, use a pretrained ImageNet model ({needs}), or "
    "“{checkpoint}” in the sidebar for a weights file on this machine.",
    "domain.use": "Use {name}",
    # -- class, head and layer names
    "class.n": "class {index}",
    "class.explain": "Explain class (relevance)",
    "class.help": "The five most probable first, then every class by name.",
    "class.probability": "{name}: {percent}% for this image",
    "class.rank": " (top-{rank}).",
    "head.n": "head {head}",
    "head.mean": "mean of heads",
    "layer.n": "layer {layer}",
    "layer.rolled": "rolled out",
    # -- rendering controls
    "render.style": "Rendering",
    "render.colormap": "Colour map",
    "render.opacity": "Opacity",
    "render.mass": "Mass kept",
    "render.mass_help": "Keep the fewest patches that hold this share of the map's total.",
    "render.blur": "Blur about one patch",
    "render.name.heat": "Heat blend",
    "render.name.paper": "Paper (Figure 6)",
    "render.name.mask": "Mask (top mass)",
    "render.name.patches": "Patches",
    "render.help": "{heat}: colours blended 50/50 over the image, smooth between patch centres, the weakest 10% "
    "left clear. {paper}: the image darkened where the map is low (the ViT paper's Figure 6). {mask}: only the "
    "patches holding the top share of the map's mass (DINO's Figure 3). {patches}: one coloured block per patch, "
    "the exact per-patch values.",
    "render.bar_minmax": "min-max scaled",
    "render.bar_paper": "÷ max (brightness)",
    "render.describe.heat": "{name}: {scale}, opacity {opacity}, clear below {floor} (min-max scaled), bilinear",
    "render.describe.paper": "{name}: image × map ÷ max, bilinear{blur}",
    "render.blur_on": ", blur {patches} patch",
    "render.blur_off": ", no blur",
    "render.describe.mask": "{name}: top {mass} of the map's mass kept",
    "render.describe.patches": "{name}: {scale}, opacity {opacity}, one block per patch",
    "render.rollout_settings": "rollout: {fusion} of heads, discard {discard}, residual {residual}, from layer "
    "{start}",
    "export.png_button": "Download PNG ({width} px)",
    "fusion.mean": "mean",
    "fusion.max": "max",
    "fusion.min": "min",
}

KO: dict[str, str] = {
    "none": "없음",
    "this_model": "이 모델",
    "error.offline": "{name}의 가중치가 이 컴퓨터에 없고 모델 허브에도 연결할 수 없으니, 모델 메뉴 아래의 “{random}”을 "
    "켜서 학습되지 않은 모델로 살펴보거나 모델 메뉴에서 “{checkpoint}”를 고르세요.",
    "error.offline_config": "{name}의 설정 파일이 이 컴퓨터에 없고 모델 허브에도 연결할 수 없으니, 모델 메뉴에서 "
    "“{checkpoint}”나 다른 모델을 고르세요.",
    "error.unexpected": "문제가 생겼습니다({kind}). 다른 모델이나 이미지를 골라 보세요.",
    "sidebar.model": "모델",
    "sidebar.begin": "시작하려면 사이드바에서 모델과 이미지를 고르세요.",
    "sidebar.after_error": "모델과 이미지를 불러오면 이 페이지가 나타납니다: 위의 안내를 보세요.",
    "model.demo": "내장 데모 모델 (도형)",
    "model.tiny_random": "작은 무작위 ViT (데모 모델 미설치)",
    "model.other_timm": "다른 timm ViT 이름...",
    "model.hf": "Hugging Face 모델 (transformers)...",
    "model.hf_other": "다른 허브 저장소 또는 로컬 폴더...",
    "model.checkpoint": "로컬 체크포인트 (경로 또는 업로드)...",
    "sidebar.example": "예: {example}",
    "sidebar.timm_name": "timm 모델 이름",
    "sidebar.timm_hint": "timm ViT 이름(`timm.list_pretrained('vit_*')` 참고)이나 timm 설정이 있는 허브 저장소를 "
    "`hf-hub:org/name` 형식으로 입력하세요.",
    "sidebar.arch": "아키텍처 (timm 이름)",
    "sidebar.checkpoint_path": "이 컴퓨터의 체크포인트 경로",
    "sidebar.checkpoint_upload": "…또는 체크포인트 업로드",
    "sidebar.checkpoint_hint": "아키텍처와 .safetensors/.pth/.npz 파일을 지정하세요. 아무것도 내려받지 않습니다.",
    "sidebar.random": "무작위 가중치 (학습 안 된 대조군)",
    "sidebar.random_help": "같은 아키텍처를 timm의 무작위 초기화(시드 {seed})로 만든 것이며, 이 가중치는 쓰지 "
    "않습니다. 무작위화한 뒤에도 남는 맵은 모델이 학습한 것에 대해 아무것도 설명하지 못합니다.",
    "sidebar.precision": "정밀도",
    "sidebar.image_size": "이미지 크기 (px)",
    "sidebar.image_size_help": "이 모델의 원래 크기는 {size} px입니다. 다른 크기에서는 위치 임베딩을 {patch} px 패치의 "
    "새 격자에 맞게 다시 샘플링합니다 (패치가 많을수록 맵이 세밀하고 메모리를 더 씁니다).",
    "sidebar.repository": "저장소",
    "sidebar.hf_name": "허브 저장소 또는 폴더",
    "sidebar.hf_hint": "transformers 형식의 ViT, DeiT, DINOv2: 허브 저장소(`org/name`, 선택적으로 `@revision`) "
    "또는 `save_pretrained`로 저장한 이 컴퓨터의 폴더(config.json과 model.safetensors).",
    "hf.vit_base": "ViT-B/16, ImageNet-21k 사전 학습, ImageNet-1k 분류기.",
    "hf.vit_base_in21k": "ViT-B/16, ImageNet-21k 사전 학습, 분류기 없음.",
    "hf.deit_distilled": "증류 토큰이 있는 DeiT-B/16, ImageNet-1k.",
    "hf.dino": "DINO ViT-B/16, 자기 지도 학습, 분류기 없음.",
    "hf.dinov2": "DINOv2 ViT-S/14, 자기 지도 학습, 분류기 없음.",
    "hf.dinov2_registers": "레지스터 4개가 있는 DINOv2 ViT-S/14, 자기 지도 학습, 분류기 없음.",
    "sidebar.sample": "샘플 이미지",
    "sidebar.upload": "이미지 업로드",
    "sidebar.upload_hint": "PNG, JPEG, WebP, BMP, GIF(첫 프레임) 또는 TIFF, 최대 20 MB.",
    "load.loading": "{name} 불러오는 중…",
    "load.from_cache": "로컬 캐시에서 {name} 불러오는 중…",
    "load.about": " (약 {mb} MB)",
    "load.first_download": "처음 사용이라 {name}{about}을(를) 내려받는 중입니다. 다음부터는 로컬 캐시에서 불러옵니다…",
    "load.progress": "{name} 내려받는 중: {total} MB 중 {done} MB",
    "load.downloaded": "{name} 내려받기 완료 ({mb} MB).",
    "sidebar.loaded": "**{name}** · {weights} · {device} · {dtype}  \n{depth}개 레이어 × {heads}개 헤드 · "
    "{ph} px 패치 {gh}×{gw}개 · 접두 토큰: {prefix}",
    "sidebar.random_note": "무작위 가중치: 학습하지 않은 대조군입니다. 이 그림들에 보이는 구조는 학습이 아니라 "
    "아키텍처와 이미지에서 나온 것입니다.",
    "weights.random": "무작위 가중치 (timm 초기화, 시드 {seed})",
    "weights.demo": "내장",
    "weights.hub": "사전 학습",
    "weights.checkpoint": "체크포인트",
    "domain.six_shapes": "여섯 가지 도형",
    "domain.cached": "이미 이 컴퓨터에 있음",
    "domain.download": "처음 한 번 약 88 MB를 내려받으므로 처음에는 네트워크가 필요함",
    "domain.notice": "이 이미지는 내장 모델이 생성한 장면이 아닙니다. 그 모델은 생성된 배경 위의 합성 도형 여섯 "
    "가지({classes})만 알기 때문에, 아래 확률은 아무리 확신해 보여도 그 도형들 가운데 고른 것일 뿐입니다. 사진에는 "
    "사전 학습된 ImageNet 모델({needs})을 쓰거나, 이 컴퓨터의 가중치 파일이라면 사이드바의 “{checkpoint}”를 "
    "쓰세요.",
    "domain.use": "{name} 사용",
    "class.n": "클래스 {index}",
    "class.explain": "설명할 클래스 (관련도)",
    "class.help": "가장 확률이 높은 다섯 개가 먼저, 그다음 모든 클래스가 이름순으로 나옵니다.",
    "class.probability": "{name}: 이 이미지에서 {percent}%",
    "class.rank": " (상위 {rank}위).",
    "head.n": "헤드 {head}",
    "head.mean": "헤드 평균",
    "layer.n": "레이어 {layer}",
    "layer.rolled": "전체 레이어 롤아웃",
    "render.style": "표현 방식",
    "render.colormap": "컬러맵",
    "render.opacity": "불투명도",
    "render.mass": "남길 질량",
    "render.mass_help": "맵 전체 합의 이 비율을 담는 가장 적은 수의 패치만 남깁니다.",
    "render.blur": "패치 하나 정도 흐리게",
    "render.name.heat": "히트 블렌드",
    "render.name.paper": "논문 방식 (그림 6)",
    "render.name.mask": "마스크 (상위 질량)",
    "render.name.patches": "패치별",
    "render.help": "{heat}: 이미지 위에 색을 50/50으로 섞고 패치 중심 사이를 부드럽게 잇습니다. 가장 약한 10%는 "
    "투명하게 둡니다. {paper}: 맵 값이 낮은 곳의 이미지를 어둡게 합니다(ViT 논문 그림 6). {mask}: 맵 질량의 상위 "
    "비율을 담는 패치만 보입니다(DINO 그림 3). {patches}: 패치마다 색 블록 하나, 패치별 정확한 값입니다.",
    "render.bar_minmax": "최소-최대 정규화",
    "render.bar_paper": "÷ 최댓값 (밝기)",
    "render.describe.heat": "{name}: {scale}, 불투명도 {opacity}, {floor} 미만 투명 (최소-최대 정규화), 쌍선형 보간",
    "render.describe.paper": "{name}: 이미지 × 맵 ÷ 최댓값, 쌍선형 보간{blur}",
    "render.blur_on": ", 흐림 {patches} 패치",
    "render.blur_off": ", 흐림 없음",
    "render.describe.mask": "{name}: 맵 질량의 상위 {mass} 유지",
    "render.describe.patches": "{name}: {scale}, 불투명도 {opacity}, 패치마다 블록 하나",
    "render.rollout_settings": "롤아웃: 헤드 {fusion}, 버림 비율 {discard}, 잔차 가중치 {residual}, 레이어 "
    "{start}부터",
    "export.png_button": "PNG 내려받기 ({width} px)",
    "fusion.mean": "평균",
    "fusion.max": "최댓값",
    "fusion.min": "최솟값",
}
