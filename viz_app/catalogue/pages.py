"""The pages: navigation, titles, headings, controls, captions and messages of every view."""

EN: dict[str, str] = {
    # -- navigation (url paths never change; only these titles do)
    "nav.teach": "Teach",
    "nav.explore": "Explore",
    "nav.figure7": "The paper's Figure 7",
    "nav.lesson": "Lesson",
    "nav.overview": "Image & patches",
    "nav.rollout": "Attention rollout",
    "nav.class_token": "Class-token attention",
    "nav.query": "Query a patch",
    "nav.faithfulness": "Faithfulness",
    "nav.compare": "Compare models",
    "nav.export": "Export",
    "nav.position": "Position embeddings",
    "nav.heads": "Heads at a glance",
    "nav.inside": "Token norms & sinks",
    "nav.filters": "Patch-embedding filters",
    "nav.ablate": "Switch off heads & tokens",
    # -- shared control labels
    "label.layer": "Layer",
    "label.head": "Head",
    "label.row": "Row",
    "label.column": "Column",
    # -- errors raised by the app itself (shown through show_error)
    "error.checkpoint_type": "{name} is not a supported checkpoint; upload one of {suffixes}.",
    "error.image": "the image could not be analysed ({kind}); try another file.",
    # -- Image & patches
    "overview.sees": "What the model sees",
    "overview.sees_caption": "{image}, resized and cropped to {w} × {h} px by the model's own preprocessing.",
    "overview.prediction": "Prediction",
    "overview.pick": "Its pick among its {n} shapes: **{label}** ({p} of its probability, not a confidence about "
    "this image)",
    "overview.top1": "Top-1: **{label}** with probability **{p}**",
    "overview.topk_shapes": "probability among the {n} shapes it knows",
    "overview.pick_presence": "Its strongest of its {n} shapes: **{label}** ({p} that this shape is present, each "
    "shape judged on its own; not a confidence about this image)",
    "overview.topk_presence": "presence of each of the {n} shapes it knows",
    "overview.sigmoid": "This model scores each class on its own (a sigmoid per class, as its last training phase "
    "taught it), so the bars need not add up to 100%: a scene with two shapes can have both near 100%.",
    "overview.no_head": "This model has no classification head (a self-supervised or image-tower model), so it "
    "predicts no class: it outputs a feature of {dim} numbers. Its attention maps and rollout show where that "
    "feature draws from; class-specific relevance and the faithfulness measures, which follow a class, are not offered.",
    "overview.words": "16 × 16 words: the image as a sequence of patches",
    "overview.show_indices": "Show token indices",
    "overview.grid": "{gh} × {gw} = {n} patches of {ph} × {pw} px, numbered by their position in the sequence.",
    "overview.no_prefix": "none (the model pools the patch tokens)",
    "overview.sequence_one": "The flattened sequence: {count} prefix token ({prefix}) first, then every patch row by "
    "row: {tokens} tokens in all, in one row (scroll sideways); the number under a patch is its position in the "
    "sequence, shown where each image row starts.",
    "overview.sequence": "The flattened sequence: {count} prefix tokens ({prefix}) first, then every patch row by "
    "row: {tokens} tokens in all, in one row (scroll sideways); the number under a patch is its position in the "
    "sequence, shown where each image row starts.",
    # -- Attention rollout
    "rollout.outside": "The bundled model knows six synthetic shapes only (see “{overview}”); on this image its "
    "maps show where it looked for them, not what the image shows.",
    "rollout.fusion": "Head fusion",
    "rollout.discard": "Discard ratio",
    "rollout.discard_help": "Per row, drop this fraction of the weakest weights to patches.",
    "rollout.residual": "Residual weight",
    "rollout.residual_help": "a in (1 − a)·A + a·I; 0.5 in the paper.",
    "rollout.start": "Start layer",
    "rollout.apply": "Apply",
    "rollout.apply_help": "The map is redrawn when you press Apply, once for however many steps the sliders moved "
                          "(each arrow-key step used to redraw it).",
    "rollout.gradient_pass": "One gradient pass for this class…",
    "rollout.constant": "The rollout map is the same for every patch: {why}. Lower the residual weight or the "
    "discard ratio.",
    "rollout.constant_residual": "a residual weight of 1 replaces every layer's attention by the identity, so "
    "nothing is rolled out",
    "rollout.constant_discard": "the discard ratio removed the weights that differ between patches",
    "rollout.constant_same": "every patch receives the same rolled-out weight for these settings",
    "rollout.caption": "Class-agnostic. Rolled-out weight on prefix tokens: {mass}. {rendering}.",
    "rollout.relevance": "Class-specific relevance",
    "rollout.no_head": "Relevance needs a classification head; this model has none.",
    "rollout.relevance_caption": "Gradient × attention for “{name}” (GAE, Chefer et al. ICCV 2021). {rendering}.",
    "rollout.relevance_for": "Relevance for {name}",
    "rollout.relevance_method": "gradient x attention (GAE, Chefer et al. ICCV 2021)",
    "truth.toggle": "Ground truth",
    "truth.help": "Outline the objects of this generated scene.",
    "truth.on_object": "on the {label}",
    "truth.on_background": "on the background",
    "truth.absent": "there is no {wanted} in this scene; the peak is {where}",
    "truth.peak": "peak {where} {mark}",
    "truth.margin": " by {margin} of the map's range over {other} ({best} against {runner})",
    "truth.no_clear": "no clear winner: its best patch {where} scores {best}, {other} {runner}, closer than {threshold} "
    "of the map's range",
    "truth.rollout": "Ground truth: rollout {verdict} (the peak patch's centre inside an object's box grown by "
    "{grow} px: the pointing game of the demo model's card).",
    "truth.relevance": "Ground truth: relevance for “{name}”: {verdict}.",
    # -- Class-token attention
    "cls.none": "This model has no class token (it pools the patch tokens); use “{query}” to see where any token "
    "looks.",
    "cls.layout": "Layout",
    "cls.animate": "Animate over layers",
    "cls.grid": "Layer × head grid",
    "cls.scale": "Scale each map",
    "cls.scale_help": "Min-max scale every map on its own so weak heads stay visible.",
    "cls.one_head": "One head on the image",
    "cls.on_prefix": "Weight this query put on prefix tokens: {mass}; the map shows the rest, over the patches. "
    "{rendering}.",
    "cls.every_head": "{layer}, every head at once",
    "cls.dino": "DINO's per-head picture (Caron et al. 2021, Figure 3): each colour is one head's patches holding "
    "the top {mass} of its attention.",
    "cls.prefix_title": "Class-token attention to prefix tokens (layer × head)",
    # -- Query a patch
    "query.rolled": "rolled out over all layers (mean of heads, residual 0.5)",
    "query.where": "Where patch ({row}, {col}) attends",
    "query.token": "Token {token}, {what}. Click any patch to query it.",
    "query.on_prefix": "Weight on prefix tokens: {mass}.",
    "query.every_head": "Every head, layer by layer",
    "query.as_query": "patch ({row}, {col}) as the query",
    # -- Faithfulness
    "faith.method.raw": "Raw attention (last layer)",
    "faith.method.rollout": "Attention rollout",
    "faith.method.flow": "Attention flow",
    "faith.method.relevance": "Relevance (GAE, ICCV 2021)",
    "faith.method.gradcam": "Grad-CAM",
    "faith.method.lrp": "Conservative LRP",
    "faith.method.legrad": "LeGrad",
    "faith.method.transformer_attribution": "Transformer Attribution (CVPR 2021)",
    "faith.method.random": "Random (baseline)",
    "faith.method.centre": "Centre prior (baseline)",
    "faith.measure.positive_auc": "token removal, most relevant first",
    "faith.measure.negative_auc": "token removal, least relevant first",
    "faith.measure.deletion_auc": "pixel deletion",
    "faith.measure.insertion_auc": "pixel insertion",
    "faith.measure.pointing_game": "pointing game",
    "faith.measure.energy_pointing": "energy in the box",
    "faith.measure.mask_iou": "box IoU (top 10%)",
    "faith.no_head": "The faithfulness measures follow a class's probability; this model has no classification head.",
    "faith.methods": "Methods",
    "faith.methods_help": "Two methods by Chefer, Gur & Wolf: Relevance (the rollout page's class-specific relevance) is "
    "GAE (ICCV 2021, \"Generic Attention-model Explainability\"): gradient × attention, rolled out; Transformer "
    "Attribution (CVPR 2021, \"Transformer Interpretability Beyond Attention Visualization\") rolls out gradient × the "
    "LRP relevance of each attention map instead. Attention flow solves one max-flow problem per patch: seconds per image.",
    "faith.not_offered": "{method} is not computed for this model: {reason}",
    "faith.explain": "Explain class",
    "faith.auc": "AUC: trapezoid rule over the fraction (token removal 0 to 90%, pixels 0 to 100%, 0% step "
    "included). Lower is better for removal most-relevant-first and deletion; higher for least-relevant-first and "
    "insertion.",
    "faith.curve.positive": "Token removal, most relevant first (lower is better)",
    "faith.curve.negative": "Token removal, least relevant first (higher is better)",
    "faith.curve.deletion": "Pixel deletion, blur fill (lower is better)",
    "faith.curve.insertion": "Pixel insertion onto the blurred image (higher is better)",
    "faith.blurred": "fraction of patches blurred",
    "faith.restored": "fraction of patches restored",
    "faith.progress": "Maps and perturbation curves…",
    "faith.progress_flow": "Attention flow (one max-flow problem per patch)…",
    "faith.table": "AUCs and measures",
    "faith.verdicts": "On this image, better than both baselines by more than {floor} (one image has no standard "
    "error) — {verdicts}.",
    "faith.verdicts_box": "On this image, better than both baselines by more than {floor} (one image has no standard "
    "error) — {verdicts}. Localisation measures use the target object's true box.",
    "faith.no_difference": "no difference",
    "faith.maps": "Maps for “{label}”",
    # -- Position embeddings
    "position.none": "This model has no learned absolute position-embedding table (it uses rotary, relative or "
    "fixed embeddings), so there are no similarity tiles to show.",
    "position.caption": "Tile (row, column) shows how similar that patch's position embedding is to every other "
    "patch's (Dosovitskiy et al. 2021, Figure 7 centre).",
    "position.range": "Colour range",
    "position.fitted": "Fitted to the data",
    "position.paper_range": "−1 to 1 (the paper)",
    "position.range_help": "Fitted: the colours span this model's lowest to highest cosine, so small differences "
    "show. The paper uses −1 to 1.",
    "position.centre": "Subtract the mean embedding",
    "position.centre_help": "Every position embedding shares a common part that makes all cosines high; removing "
    "it shows only what differs between positions.",
    "position.mean_removed": " (mean removed)",
    "position.fitted_range": ", fitted range",
    "position.centred_caption": "Mean embedding removed: the cosines compare what is particular to each position, "
    "so distant patches can come out opposite (negative).",
    "position.title": "Position-embedding similarity",
    # -- Heads at a glance
    "heads.across": "Average over all {n} sample images",
    "heads.across_help": "Runs the model once per sample image (cached afterwards).",
    "heads.this_image": "this image",
    "heads.analysing": "Analysing {n} sample images…",
    "heads.over_samples": "mean ± std over {n} sample images",
    "heads.distance": "Mean attention distance",
    "heads.distance_caption": "Attention-weighted distance between a patch and the patches it attends to, one point "
    "per head (Figure 7 right), {where}. {finding}",
    "heads.entropy": "Attention entropy",
    "heads.entropy_axis": "entropy (nats)",
    "heads.entropy_caption": "Low entropy: a head focuses on few tokens; high: it spreads its attention widely.",
    # -- Patch-embedding filters
    "filters.caption": "The first {k} principal components of the {dim} patch-embedding filters, each shown as an "
    "RGB patch with the share of variance it explains (Dosovitskiy et al. 2021, Figure 7 left; the paper's ViT-L/32 "
    "shows smooth, low-frequency bases, much like a CNN's first layer).",
    "filters.smooth": "This model's components are smooth: median roughness {roughness} (neighbouring-pixel "
    "difference over twice the variance; white noise 1, smooth below {smooth}), as in the paper.",
    "filters.noisy": "This model's components are high-frequency, noise-like patterns, not the paper's smooth bases: "
    "median roughness {roughness} (neighbouring-pixel difference over twice the variance; white noise 1, noise-like "
    "above {noisy}).",
    "filters.mixed": "This model's components are partly smooth: median roughness {roughness} (neighbouring-pixel "
    "difference over twice the variance; white noise 1, smooth below {smooth}, noise-like above {noisy}).",
    "filters.explained": " Together the {k} shown explain {total} of the filters' variance, the first {first}.",
    "filters.title": "Patch-embedding filters (principal components)",
    # -- Compare models
    "compare.same_random": "The same architecture with random weights",
    "compare.same_trained": "The same architecture with trained weights",
    "compare.with": "Compare with",
    "compare.help": "The second model runs once on this image (cached afterwards).",
    "compare.running": "Running {name}…",
    "compare.top1": "Top-1: **{label}** ({p})",
    "compare.no_head": "No classification head.",
    "compare.current": "Current model",
    "compare.compared": "Compared with",
    # -- Switch off heads & tokens
    "ablate.intro": "Switch attention heads off (their output replaced before the attention's output projection) or "
    "mask tokens (no token may attend to them), and see what the prediction and the maps lose. **Mean** replaces a "
    "head by its mean output over the {n} sample images, token position by token position; **zero** removes it "
    "outright, which also removes its average contribution and so overstates how much the model needs the head.",
    "ablate.heads": "Heads to switch off (layer:head)",
    "ablate.tokens": "Tokens to mask",
    "ablate.mode": "Replace a head's output by",
    "ablate.mode.mean": "its mean (default)",
    "ablate.mode.zero": "zero (contrast)",
    "ablate.patch": "patch row {row}, col {col}",
    "ablate.state": "Switched off: {heads} heads ({mode}), {tokens} tokens masked.",
    "ablate.state_none": "Nothing is switched off yet ({mode}): pick heads or tokens above to see what changes.",
    "ablate.mean_name": "mean over {n} sample images",
    "ablate.zero_name": "zero",
    "ablate.before": "Before",
    "ablate.after": "After",
    "ablate.target": "Logit of {label}",
    "ablate.target_help": "The clean top-1 class; the change is the logit after minus before.",
    "ablate.no_head": "This model has no classification head, so there is no logit to follow; the maps still show "
    "what the switched-off heads and tokens change.",
    "ablate.rollout": "Attention rollout",
    "ablate.cls": "Class-token attention, last layer, mean of heads",
    "ablate.no_cls": "This model has no class token: its class-token attention is not defined.",
    "ablate.map_change": "Each map is scaled on its own; the largest change of any patch's value: {change}.",
    "ablate.importance": "Head importance: each head switched off alone",
    "ablate.importance_help": "One run per layer on copies of the image, each with one head switched off: seconds on "
    "a CPU for ViT-B's 144 heads.",
    "ablate.importance_title": "Drop of the {label} logit with the head switched off alone ({mode})",
    "ablate.importance_caption": "The head the {label} logit needs most: layer {layer}, head {head} (a drop of "
    "{drop}); {positive} of {total} heads lower the logit when switched off.",
    "ablate.importance_axis": "logit drop",
    "ablate.register": "Test-time register (Jiang et al. 2025)",
    "ablate.register_help": "Finds the MLP neurons that fire at high-norm patches over the sample images and moves "
    "their activation into one extra token, so the outlier leaves the image.",
    "ablate.register_layer": "Detection layer",
    "ablate.register_mads": "Norm cut: median + k × MAD",
    "ablate.register_k": "Register neurons kept",
    "ablate.register_none": "No patch of the {images} sample images exceeds the cut at layer {layer} (norm {cut}; "
    "median {median}, highest {highest}): this model shows no high-norm outlier there, so there is nothing for a "
    "register to take.",
    "ablate.register_found": "Register neurons (layer:neuron): {neurons}, from {count} of {images} sample images with "
    "a patch above the cut {cut}. On this image the highest patch norm at layer {layer} goes from {before} to "
    "{after}; the extra token's norm is {register} and it receives {share} of the class token's last-layer attention.",
    "ablate.register_norms": "Patch norms at layer {layer}",
    "ablate.register_cls": "Class-token attention, last layer",
    # -- Export
    "export.png": "Rollout map (PNG)",
    "export.png_caption": "The attention rollout as the “{page}” page draws it now ({rendering}; {settings}), with "
    "its colour bar and a caption of these settings and the model.",
    "export.width": "Width (px)",
    "export.npz": "All arrays (.npz)",
    "export.npz_caption": "The same keys as `python -m vit_core analyze`: {shapes}, and `provenance` (model, weights "
    "SHA-256, preprocessing, settings, versions, date) as a JSON string.",
    "export.npz_button": "Download .npz",
    "export.html": "A figure as standalone HTML",
    "export.figure": "Figure",
    "export.fig.rollout": "Attention rollout overlay",
    "export.fig.cls": "Class-token attention (animated)",
    "export.html_button": "Download HTML",
}

KO: dict[str, str] = {
    "nav.teach": "수업",
    "nav.explore": "탐색",
    "nav.figure7": "논문의 그림 7",
    "nav.lesson": "단계별 수업",
    "nav.overview": "이미지와 패치",
    "nav.rollout": "어텐션 롤아웃",
    "nav.class_token": "클래스 토큰 어텐션",
    "nav.query": "패치 질의",
    "nav.faithfulness": "충실도",
    "nav.compare": "모델 비교",
    "nav.export": "내보내기",
    "nav.position": "위치 임베딩",
    "nav.heads": "헤드 한눈에 보기",
    "nav.inside": "토큰 노름과 싱크",
    "nav.filters": "패치 임베딩 필터",
    "nav.ablate": "헤드와 토큰 끄기",
    "label.layer": "레이어",
    "label.head": "헤드",
    "label.row": "행",
    "label.column": "열",
    "error.checkpoint_type": "{name}은(는) 지원하지 않는 체크포인트입니다. 다음 중 하나를 업로드하세요: {suffixes}.",
    "error.image": "이미지를 분석할 수 없습니다({kind}). 다른 파일을 골라 보세요.",
    "overview.sees": "모델이 보는 이미지",
    "overview.sees_caption": "{image}, 모델 자체의 전처리로 {w} × {h} px로 크기를 바꾸고 잘랐습니다.",
    "overview.prediction": "예측",
    "overview.pick": "알고 있는 도형 {n}가지 가운데 고른 것: **{label}** (확률의 {p}이며, 이 이미지에 대한 확신도가 "
    "아닙니다)",
    "overview.top1": "1순위: **{label}**, 확률 **{p}**",
    "overview.topk_shapes": "모델이 아는 도형 {n}가지 사이의 확률",
    "overview.pick_presence": "알고 있는 도형 {n}가지 가운데 가장 강한 것: **{label}** (이 도형이 있을 확률 {p}, 도형마다 "
    "따로 판단한 값이며, 이 이미지에 대한 확신도가 아닙니다)",
    "overview.topk_presence": "모델이 아는 도형 {n}가지 각각이 있을 확률",
    "overview.sigmoid": "이 모델은 클래스마다 따로 점수를 매깁니다(마지막 학습 단계에서 배운 대로 클래스마다 시그모이드). "
    "그래서 막대의 합이 100%가 아닐 수 있습니다. 도형이 두 개인 장면에서는 둘 다 100%에 가까울 수 있습니다.",
    "overview.no_head": "이 모델에는 분류 헤드가 없어서(자기 지도 학습 모델이나 이미지 타워 모델) 클래스를 예측하지 "
    "않고, {dim}개의 수로 된 특징을 출력합니다. 어텐션 지도와 롤아웃은 그 특징이 어디에서 오는지 보여 주며, 클래스를 "
    "따라가는 관련도와 충실도 측정은 제공되지 않습니다.",
    "overview.words": "16 × 16 단어: 패치의 시퀀스로 본 이미지",
    "overview.show_indices": "토큰 번호 보이기",
    "overview.grid": "{ph} × {pw} px 패치 {gh} × {gw} = {n}개, 시퀀스에서의 위치로 번호를 매겼습니다.",
    "overview.no_prefix": "없음 (모델이 패치 토큰을 풀링함)",
    "overview.sequence_one": "펼친 시퀀스: 먼저 접두 토큰 {count}개({prefix}), 그다음 모든 패치가 한 줄씩 이어집니다. "
    "모두 {tokens}개 토큰이 한 줄에 있습니다(옆으로 스크롤). 패치 아래 숫자는 시퀀스에서의 위치이며, 이미지의 각 행이 "
    "시작하는 곳에 표시합니다.",
    "overview.sequence": "펼친 시퀀스: 먼저 접두 토큰 {count}개({prefix}), 그다음 모든 패치가 한 줄씩 이어집니다. "
    "모두 {tokens}개 토큰이 한 줄에 있습니다(옆으로 스크롤). 패치 아래 숫자는 시퀀스에서의 위치이며, 이미지의 각 행이 "
    "시작하는 곳에 표시합니다.",
    "rollout.outside": "내장 모델은 합성 도형 여섯 가지만 압니다(“{overview}” 참고). 이 이미지에서 맵은 이미지에 무엇이 "
    "있는지가 아니라 모델이 그 도형들을 어디서 찾았는지를 보여 줍니다.",
    "rollout.fusion": "헤드 결합 방식",
    "rollout.discard": "버림 비율",
    "rollout.discard_help": "행마다 패치로 가는 가장 약한 가중치를 이 비율만큼 버립니다.",
    "rollout.residual": "잔차 가중치",
    "rollout.residual_help": "(1 − a)·A + a·I의 a. 논문에서는 0.5입니다.",
    "rollout.start": "시작 레이어",
    "rollout.apply": "적용",
    "rollout.apply_help": "적용을 누르면 지도를 다시 그립니다. 슬라이더를 몇 칸 옮겼든 한 번만 다시 그립니다 "
                          "(전에는 화살표 키 한 칸마다 다시 그렸습니다).",
    "rollout.gradient_pass": "이 클래스에 대해 기울기 계산을 한 번 수행하는 중…",
    "rollout.constant": "롤아웃 맵이 모든 패치에서 같습니다: {why}. 잔차 가중치나 버림 비율을 낮추세요.",
    "rollout.constant_residual": "잔차 가중치가 1이면 모든 레이어의 어텐션이 단위 행렬로 바뀌어 아무것도 롤아웃되지 "
    "않습니다",
    "rollout.constant_discard": "버림 비율 때문에 패치마다 다른 가중치가 모두 제거되었습니다",
    "rollout.constant_same": "이 설정에서는 모든 패치가 같은 롤아웃 가중치를 받습니다",
    "rollout.caption": "클래스와 무관한 맵입니다. 접두 토큰에 간 롤아웃 가중치: {mass}. {rendering}.",
    "rollout.relevance": "클래스별 관련도",
    "rollout.no_head": "관련도를 계산하려면 분류 헤드가 필요한데, 이 모델에는 없습니다.",
    "rollout.relevance_caption": "“{name}”에 대한 기울기 × 어텐션(GAE, Chefer 외 ICCV 2021). {rendering}.",
    "rollout.relevance_for": "{name}에 대한 관련도",
    "rollout.relevance_method": "기울기 × 어텐션 (GAE, Chefer 외 ICCV 2021)",
    "truth.toggle": "정답 표시",
    "truth.help": "이 생성 장면에 있는 물체의 윤곽을 그립니다.",
    "truth.on_object": "{label} 위",
    "truth.on_background": "배경 위",
    "truth.absent": "이 장면에는 {wanted}이(가) 없습니다. 최댓값은 {where}에 있습니다",
    "truth.peak": "최댓값이 {where}에 있음 {mark}",
    "truth.margin": " ({other}보다 지도 범위의 {margin}만큼 높음: {best} 대 {runner})",
    "truth.no_clear": "뚜렷한 승자 없음: {where}의 최고 패치 {best}, {other} {runner}, 차이가 지도 범위의 {threshold}보다 "
    "작습니다",
    "truth.rollout": "정답 비교: 롤아웃 {verdict} (최댓값 패치의 중심이 {grow} px 넓힌 물체 상자 안에 있는지 봅니다. "
    "데모 모델 카드의 포인팅 게임).",
    "truth.relevance": "정답 비교: “{name}”에 대한 관련도: {verdict}.",
    "cls.none": "이 모델에는 클래스 토큰이 없습니다(패치 토큰을 풀링함). 아무 토큰이 어디를 보는지는 “{query}”에서 "
    "볼 수 있습니다.",
    "cls.layout": "배치",
    "cls.animate": "레이어별 애니메이션",
    "cls.grid": "레이어 × 헤드 격자",
    "cls.scale": "맵마다 정규화",
    "cls.scale_help": "맵마다 따로 최소-최대 정규화해서 약한 헤드도 보이게 합니다.",
    "cls.one_head": "이미지 위의 헤드 하나",
    "cls.on_prefix": "이 쿼리가 접두 토큰에 준 가중치: {mass}. 맵은 나머지를 패치 위에 보여 줍니다. {rendering}.",
    "cls.every_head": "{layer}, 모든 헤드를 한 번에",
    "cls.dino": "DINO의 헤드별 그림(Caron 외 2021, 그림 3): 색마다 한 헤드를 나타내며, 그 헤드 어텐션의 상위 {mass}를 "
    "담는 패치입니다.",
    "cls.prefix_title": "클래스 토큰이 접두 토큰에 준 어텐션 (레이어 × 헤드)",
    "query.rolled": "전체 레이어에 걸쳐 롤아웃 (헤드 평균, 잔차 0.5)",
    "query.where": "패치 ({row}, {col})이(가) 주목하는 곳",
    "query.token": "토큰 {token}, {what}. 다른 패치를 클릭하면 그 패치를 질의합니다.",
    "query.on_prefix": "접두 토큰에 준 가중치: {mass}.",
    "query.every_head": "모든 헤드, 레이어별로",
    "query.as_query": "쿼리로 쓴 패치 ({row}, {col})",
    "faith.method.raw": "원시 어텐션 (마지막 레이어)",
    "faith.method.rollout": "어텐션 롤아웃",
    "faith.method.flow": "어텐션 플로",
    "faith.method.relevance": "클래스별 관련도 (GAE, ICCV 2021)",
    "faith.method.gradcam": "Grad-CAM (그래디언트 가중 클래스 활성화 맵)",
    "faith.method.lrp": "보존형 LRP (Conservative LRP)",
    "faith.method.legrad": "LeGrad (레이어별 그래디언트 민감도)",
    "faith.method.transformer_attribution": "트랜스포머 어트리뷰션 (CVPR 2021)",
    "faith.method.random": "무작위 (기준선)",
    "faith.method.centre": "중앙 사전 분포 (기준선)",
    "faith.measure.positive_auc": "토큰 제거, 관련도 높은 것부터",
    "faith.measure.negative_auc": "토큰 제거, 관련도 낮은 것부터",
    "faith.measure.deletion_auc": "픽셀 삭제",
    "faith.measure.insertion_auc": "픽셀 삽입",
    "faith.measure.pointing_game": "포인팅 게임",
    "faith.measure.energy_pointing": "상자 안의 에너지",
    "faith.measure.mask_iou": "상자 IoU (상위 10%)",
    "faith.no_head": "충실도 측정은 클래스 확률의 변화를 따라가는데, 이 모델에는 분류 헤드가 없습니다.",
    "faith.methods": "방법",
    "faith.methods_help": "Chefer, Gur, Wolf의 두 방법입니다. 클래스별 관련도는 GAE(ICCV 2021, \"Generic Attention-model "
    "Explainability\")로, 기울기 × 어텐션을 롤아웃합니다. 트랜스포머 어트리뷰션(CVPR 2021, \"Transformer "
    "Interpretability Beyond Attention Visualization\")은 어텐션 대신 각 어텐션 맵의 LRP 관련도에 기울기를 곱해 롤아웃합니다. "
    "어텐션 플로는 패치마다 최대 유량 문제를 하나씩 풀기 때문에 이미지당 몇 초가 걸립니다.",
    "faith.not_offered": "이 모델에서는 {method}을(를) 계산하지 않습니다: {reason}",
    "faith.explain": "설명할 클래스",
    "faith.auc": "AUC: 비율에 대한 사다리꼴 적분(토큰 제거 0–90%, 픽셀 0–100%, 0% 단계 포함). 관련도 높은 것부터 "
    "제거와 삭제는 낮을수록, 관련도 낮은 것부터 제거와 삽입은 높을수록 좋습니다.",
    "faith.curve.positive": "토큰 제거, 관련도 높은 것부터 (낮을수록 좋음)",
    "faith.curve.negative": "토큰 제거, 관련도 낮은 것부터 (높을수록 좋음)",
    "faith.curve.deletion": "픽셀 삭제, 흐림으로 채움 (낮을수록 좋음)",
    "faith.curve.insertion": "흐린 이미지에 픽셀 삽입 (높을수록 좋음)",
    "faith.blurred": "흐리게 한 패치 비율",
    "faith.restored": "복원한 패치 비율",
    "faith.progress": "맵과 교란 곡선 계산 중…",
    "faith.progress_flow": "어텐션 플로 계산 중 (패치마다 최대 유량 문제 하나)…",
    "faith.table": "AUC와 측정값",
    "faith.verdicts": "이 이미지에서 두 기준선보다 {floor} 넘게 나은 방법(이미지 한 장에는 표준오차가 없음) — {verdicts}.",
    "faith.verdicts_box": "이 이미지에서 두 기준선보다 {floor} 넘게 나은 방법(이미지 한 장에는 표준오차가 없음) — "
    "{verdicts}. 위치 측정에는 목표 물체의 실제 상자를 씁니다.",
    "faith.no_difference": "차이 없음",
    "faith.maps": "“{label}”에 대한 맵",
    "position.none": "이 모델에는 학습된 절대 위치 임베딩 표가 없어서(회전, 상대 또는 고정 임베딩 사용) 보여 줄 유사도 "
    "타일이 없습니다.",
    "position.caption": "타일 (행, 열)은 그 패치의 위치 임베딩이 다른 모든 패치의 것과 얼마나 비슷한지 보여 줍니다"
    "(Dosovitskiy 외 2021, 그림 7 가운데).",
    "position.range": "색 범위",
    "position.fitted": "데이터에 맞춤",
    "position.paper_range": "−1에서 1 (논문)",
    "position.range_help": "데이터에 맞춤: 색이 이 모델의 가장 낮은 코사인부터 가장 높은 코사인까지 펼쳐져 작은 차이도 "
    "보입니다. 논문은 −1에서 1을 씁니다.",
    "position.centre": "평균 임베딩 빼기",
    "position.centre_help": "모든 위치 임베딩에는 공통 성분이 있어 코사인이 모두 높게 나옵니다. 이를 빼면 위치마다 다른 "
    "부분만 보입니다.",
    "position.mean_removed": " (평균 제거)",
    "position.fitted_range": ", 데이터에 맞춘 범위",
    "position.centred_caption": "평균 임베딩을 뺐습니다: 코사인은 위치마다 고유한 부분을 비교하므로, 멀리 떨어진 패치는 "
    "반대(음수)로 나올 수 있습니다.",
    "position.title": "위치 임베딩 유사도",
    "heads.across": "샘플 이미지 {n}장 전체의 평균",
    "heads.across_help": "샘플 이미지마다 모델을 한 번씩 실행합니다(이후에는 캐시 사용).",
    "heads.this_image": "이 이미지",
    "heads.analysing": "샘플 이미지 {n}장을 분석하는 중…",
    "heads.over_samples": "샘플 이미지 {n}장의 평균 ± 표준편차",
    "heads.distance": "평균 어텐션 거리",
    "heads.distance_caption": "한 패치와 그 패치가 주목하는 패치들 사이의 어텐션 가중 거리, 헤드마다 점 하나(그림 7 "
    "오른쪽), {where}. {finding}",
    "heads.entropy": "어텐션 엔트로피",
    "heads.entropy_axis": "엔트로피 (nats)",
    "heads.entropy_caption": "엔트로피가 낮으면 헤드가 적은 토큰에 집중하고, 높으면 어텐션을 넓게 퍼뜨립니다.",
    "filters.caption": "{dim}개 패치 임베딩 필터의 처음 {k}개 주성분을 각각 RGB 패치로, 설명하는 분산 비율과 함께 "
    "보여 줍니다(Dosovitskiy 외 2021, 그림 7 왼쪽. 논문의 ViT-L/32는 CNN의 첫 레이어처럼 부드러운 저주파 기저를 "
    "보입니다).",
    "filters.smooth": "이 모델의 주성분은 부드럽습니다: 거칠기 중앙값 {roughness}(이웃 픽셀 차이를 분산의 두 배로 나눈 "
    "값. 백색 잡음 1, {smooth} 미만이면 부드러움), 논문과 같습니다.",
    "filters.noisy": "이 모델의 주성분은 논문의 부드러운 기저가 아니라 잡음 같은 고주파 무늬입니다: 거칠기 중앙값 "
    "{roughness}(이웃 픽셀 차이를 분산의 두 배로 나눈 값. 백색 잡음 1, {noisy} 초과면 잡음 같음).",
    "filters.mixed": "이 모델의 주성분은 일부만 부드럽습니다: 거칠기 중앙값 {roughness}(이웃 픽셀 차이를 분산의 두 배로 "
    "나눈 값. 백색 잡음 1, {smooth} 미만 부드러움, {noisy} 초과 잡음 같음).",
    "filters.explained": " 보여 준 {k}개가 필터 분산의 {total}를 설명하며, 첫 번째가 {first}입니다.",
    "filters.title": "패치 임베딩 필터 (주성분)",
    "compare.same_random": "같은 아키텍처, 무작위 가중치",
    "compare.same_trained": "같은 아키텍처, 학습된 가중치",
    "compare.with": "비교 대상",
    "compare.help": "두 번째 모델은 이 이미지에 대해 한 번 실행됩니다(이후에는 캐시 사용).",
    "compare.running": "{name} 실행 중…",
    "compare.top1": "1순위: **{label}** ({p})",
    "compare.no_head": "분류 헤드가 없습니다.",
    "compare.current": "현재 모델",
    "compare.compared": "비교 모델",
    "export.png": "롤아웃 맵 (PNG)",
    "export.png_caption": "“{page}” 페이지가 지금 그리는 그대로의 어텐션 롤아웃({rendering}; {settings})을 컬러바, "
    "그리고 이 설정과 모델을 적은 설명과 함께 저장합니다. 파일 안의 설명은 영어로 씁니다.",
    "export.width": "너비 (px)",
    "export.npz": "모든 배열 (.npz)",
    "export.npz_caption": "`python -m vit_core analyze`와 같은 키: {shapes}, 그리고 JSON 문자열인 `provenance`(모델, "
    "가중치 SHA-256, 전처리, 설정, 버전, 날짜).",
    "export.npz_button": ".npz 내려받기",
    "export.html": "그림 하나를 독립 HTML로",
    # -- Switch off heads & tokens
    "ablate.intro": "어텐션 헤드를 끄거나(어텐션 출력 투영 전에 헤드의 출력을 바꿈) 토큰을 가리고(어떤 토큰도 그 토큰에 "
    "어텐션할 수 없음), 예측과 맵이 무엇을 잃는지 봅니다. **평균**은 헤드의 출력을 샘플 이미지 {n}장에 대한 평균 출력으로 "
    "토큰 위치마다 바꾸고, **0**은 헤드를 통째로 없애 평균적인 기여까지 지우므로 모델이 그 헤드에 기대는 정도를 부풀립니다.",
    "ablate.heads": "끌 헤드 (레이어:헤드)",
    "ablate.tokens": "가릴 토큰",
    "ablate.mode": "헤드의 출력을 바꿀 값",
    "ablate.mode.mean": "평균 (기본)",
    "ablate.mode.zero": "0 (대조)",
    "ablate.patch": "패치 {row}행 {col}열",
    "ablate.state": "끈 것: 헤드 {heads}개 ({mode}), 가린 토큰 {tokens}개.",
    "ablate.state_none": "아직 아무것도 끄지 않았습니다 ({mode}). 위에서 헤드나 토큰을 고르면 무엇이 바뀌는지 보입니다.",
    "ablate.mean_name": "샘플 이미지 {n}장의 평균",
    "ablate.zero_name": "0으로",
    "ablate.before": "끄기 전",
    "ablate.after": "끈 후",
    "ablate.target": "{label}의 로짓",
    "ablate.target_help": "원래 모델의 1위 클래스입니다. 변화는 끈 후의 로짓에서 끄기 전의 로짓을 뺀 값입니다.",
    "ablate.no_head": "이 모델에는 분류 헤드가 없어 따라갈 로짓이 없습니다. 맵은 끈 헤드와 토큰이 무엇을 바꾸는지 여전히 보여 줍니다.",
    "ablate.rollout": "어텐션 롤아웃",
    "ablate.cls": "클래스 토큰 어텐션, 마지막 레이어, 헤드 평균",
    "ablate.no_cls": "이 모델에는 클래스 토큰이 없어 클래스 토큰 어텐션이 정의되지 않습니다.",
    "ablate.map_change": "맵마다 따로 척도를 맞췄습니다. 패치 값의 가장 큰 변화: {change}.",
    "ablate.importance": "헤드 중요도: 헤드를 하나씩 껐을 때",
    "ablate.importance_help": "레이어마다 이미지의 사본들에 대해 한 번씩 실행하며, 사본마다 헤드 하나를 끕니다. "
    "ViT-B의 헤드 144개도 CPU에서 몇 초입니다.",
    "ablate.importance_title": "헤드 하나만 껐을 때 {label} 로짓의 감소 ({mode})",
    "ablate.importance_caption": "{label} 로짓이 가장 많이 기대는 헤드: 레이어 {layer}, 헤드 {head} (감소 {drop}). "
    "헤드 {total}개 중 {positive}개는 끄면 로짓이 낮아집니다.",
    "ablate.importance_axis": "로짓 감소",
    "ablate.register": "테스트 시점 레지스터 (Jiang et al. 2025)",
    "ablate.register_help": "샘플 이미지에서 노름이 큰 패치에서 켜지는 MLP 뉴런을 찾아, 그 활성을 추가 토큰 하나로 옮깁니다. "
    "그러면 이상치가 이미지 밖으로 나갑니다.",
    "ablate.register_layer": "검출 레이어",
    "ablate.register_mads": "노름 기준: 중앙값 + k × MAD",
    "ablate.register_k": "남길 레지스터 뉴런 수",
    "ablate.register_none": "샘플 이미지 {images}장의 어떤 패치도 레이어 {layer}에서 기준(노름 {cut}; 중앙값 {median}, "
    "최댓값 {highest})을 넘지 않습니다. 이 모델에는 그곳에 노름이 큰 이상치가 없어 레지스터가 가져갈 것이 없습니다.",
    "ablate.register_found": "레지스터 뉴런 (레이어:뉴런): {neurons}. 샘플 이미지 {images}장 중 {count}장에 기준 {cut}을 넘는 "
    "패치가 있었습니다. 이 이미지에서 레이어 {layer}의 가장 큰 패치 노름은 {before}에서 {after}로 바뀌고, 추가 토큰의 노름은 "
    "{register}이며 클래스 토큰의 마지막 레이어 어텐션 중 {share}를 받습니다.",
    "ablate.register_norms": "레이어 {layer}의 패치 노름",
    "ablate.register_cls": "클래스 토큰 어텐션, 마지막 레이어",
    "export.figure": "그림",
    "export.fig.rollout": "어텐션 롤아웃 오버레이",
    "export.fig.cls": "클래스 토큰 어텐션 (애니메이션)",
    "export.html_button": "HTML 내려받기",
}
