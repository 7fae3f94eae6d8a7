"""The classroom parts: language switch, first screen, links, images from the room, projector mode, the lesson."""

EN: dict[str, str] = {
    "lang.label": "Language",
    # -- first screen
    "intro.name": "ViT Attention Explorer",
    "intro.sentence": "See how a Vision Transformer reads an image: its patches, its attention in every layer and "
    "head, and which patches its answer rests on.",
    "intro.what": "A Vision Transformer (ViT, Dosovitskiy et al. 2021, *An Image is Worth 16x16 Words*) cuts an "
    "image into square patches, turns each into a vector, and lets every patch look at every other one through "
    "layers of self-attention. This app shows each of those steps live, for the model and image you choose.",
    "intro.model": "Loaded: **{name}**, {depth} layers × {heads} heads, {gh} × {gw} patches of {ph} px.",
    "intro.knows_classes": "It knows {n} classes; for this image its best guess is **{top}** ({p}).",
    "intro.knows_none": "It has no classifier: it was trained without labels (self-supervised) and gives features.",
    "intro.start": "Start the lesson",
    # -- links
    "link.copy": "Copy link to this view",
    "link.how": "Copy with the button at the right of the link; opening it shows this page, model, image and "
    "settings.",
    "link.own_image": "Your own image (upload, camera or drawing) cannot travel in a link: the link opens the "
    "same view on the default sample image.",
    "link.unknown_param": "The link's {names} is not a setting of this app; it was ignored.",
    "link.bad_value": "The link's {name}={value} is not known here; the default is used instead.",
    "link.out_of_range": "The link's {name}={value} is outside {low} to {high} for this model; the default is used "
    "instead.",
    # -- images from the room
    "source.label": "Image",
    "source.Sample": "Sample",
    "source.Upload": "Upload",
    "source.Camera": "Camera",
    "source.Draw": "Draw",
    "source.camera_label": "Take a photo",
    "source.camera_hint": "Allow the browser to use the camera, then take a photo; it is analysed like an upload.",
    "source.pen_colour": "Pen colour",
    "source.pen_width": "Pen width",
    "source.draw_hint": "Draw on the white square with the mouse or a finger; the drawing is analysed like an upload.",
    # -- projector mode
    "projector.toggle": "Projector",
    "projector.help": "Large text and figures for a lecture room; secondary controls are hidden.",
    # -- lesson
    "lesson.progress": "Step {n} of {total}: {title}",
    "lesson.back": "Back",
    "lesson.next": "Next",
    "lesson.predict_first": "Predict first: pick an answer, then the figure is revealed.",
    "lesson.right": "Right: the figure below shows why.",
    "lesson.wrong": "Not quite: the answer is “{answer}”. The figure below shows why.",
    "lesson.patches.title": "Patches and the token sequence",
    "lesson.patches.text": "**An image is worth {gh} × {gw} words.** The {size} px image is cut into {n} square "
    "patches of {ph} × {pw} px, read row by row like the words of a sentence. Learned tokens go in front of "
    "them (here {P}: {prefix}); the class token's final state makes the prediction.",
    "lesson.patches.q": "How many tokens does the transformer read for this image?",
    "lesson.embedding.title": "Linear embedding and its filters",
    "lesson.embedding.text": "Each patch's pixel values are multiplied by one learned matrix into a {dim}-dimensional "
    "token. The matrix's rows are filters; their principal components (the paper's Figure 7, left) look like the "
    "smooth, edge- and colour-detecting bases a CNN learns in its first layer.",
    "lesson.embedding.q": "How many numbers does one patch hold before it becomes a {dim}-dimensional token?",
    "lesson.position.title": "Position embeddings",
    "lesson.position.text": "Patches carry no position by themselves, so a learned vector is added to each by its "
    "index. Nobody tells the model that the grid is 2-D, yet nearby patches end up with similar embeddings, and "
    "rows and columns appear (Figure 7, centre).",
    "lesson.position.q": "Which patches will have a position embedding most like that of patch ({row}, {col})?",
    "lesson.position.a_near": "its neighbours",
    "lesson.position.a_far": "patches far away",
    "lesson.position.none": "This model has no learned position-embedding table.",
    "lesson.attention.title": "Self-attention, head by head",
    "lesson.attention.text": "In each of the {depth} layers every token looks at every other token; each of the "
    "{heads} heads learns its own way of looking. The figure shows where the class token looks in every head of "
    "the last layer.",
    "lesson.attention.q": "Will the heads of the last layer look at the same patches?",
    "lesson.attention.a_same": "yes, mostly the same",
    "lesson.attention.a_different": "no, different patches",
    "lesson.attention.none": "This model has no class token; the Query a patch page shows where any token looks.",
    "lesson.distance.title": "Mean attention distance",
    "lesson.distance.text": "How far does a head look? The attention-weighted distance between a patch and the "
    "patches it attends to, one point per head (Figure 7, right). Some heads look far already in the first layer; "
    "others stay local.",
    "lesson.distance.q": "Where is the head that attends most locally (the smallest distance)?",
    "lesson.distance.a_early": "in the first half of the layers",
    "lesson.distance.a_late": "in the second half of the layers",
    "lesson.distance.axis": "mean attention distance (pixels)",
    "lesson.rollout.title": "Attention rollout",
    "lesson.rollout.text": "One layer's attention says little about the input, because tokens mix layer after "
    "layer. Rollout (Abnar & Zuidema 2020, the paper's Figure 6) averages the heads, adds the residual connection "
    "(half identity), and multiplies layer by layer. Step through the layers: the fused factor, the running "
    "product, and the class token's row of it on the image.",
    "lesson.rollout.q": "Which quarter of the image will the rolled-out class token weight most?",
    "lesson.rollout.top_left": "top left",
    "lesson.rollout.top_right": "top right",
    "lesson.rollout.bottom_left": "bottom left",
    "lesson.rollout.bottom_right": "bottom right",
    "lesson.rollout.layer": "Layer",
    "lesson.rollout.factor": "Layer {layer}: ½·mean of heads + ½·I",
    "lesson.rollout.product": "Product up to layer {layer}",
    "lesson.rollout.row": "Class token's row after layer {layer}",
    "lesson.rollout.caption": "At this layer the class token's rolled-out row puts {prefix} on the prefix tokens; "
    "the map shows the rest, over the patches.",
    "lesson.relevance.title": "Class-specific relevance",
    "lesson.relevance.text": "Rollout is class-agnostic: it follows how attention mixes the tokens, whatever the "
    "model answers. Class-specific relevance (GAE, Chefer et al. ICCV 2021) asks which patches support *one* class: each "
    "layer's attention is weighted by its gradient for that class, only the positive part is kept, and the "
    "layers are rolled out with the residual. So it explains one class at a time: in an image with two objects, "
    "the relevance for each class lights up a different object.",
    "lesson.relevance.q_scene": "The model's best guess is “{name}”. Where will the relevance for “{name}” be "
    "strongest?",
    "lesson.relevance.q": "Which quarter of the image will the relevance for “{name}” weight most?",
    "lesson.relevance.peak": "Relevance for “{name}”: {verdict}.",
    "lesson.relevance.holds": "On this image each class's relevance lights up its own object, each by a clear margin.",
    "lesson.relevance.not_here": "On this image the two maps do not each light up their own object by a clear "
    "margin (at least {threshold} of the map's range): try the scene pair_triangle_ring.png.",
    "lesson.relevance.quarter": "Relevance for “{name}” is strongest in the {where} quarter.",
    "lesson.faithfulness.title": "Is a map faithful?",
    "lesson.faithfulness.text": "A map can look convincing and still not show what the model used. A test (Chefer "
    "et al. CVPR 2021): remove the patch tokens the map ranks highest first, 10% at a time, and follow the class's "
    "probability. If the map found the patches the model relies on, it falls fast; a random order is the baseline. "
    "The area under the curve (AUC) sums it up: lower is a faster fall.",
    "lesson.faithfulness.q": "Remove the patches rollout ranks highest, 10% at a time: will the probability of "
    "“{name}” fall faster than when random patches are removed?",
    "lesson.faithfulness.a_faster": "yes, faster than random",
    "lesson.faithfulness.a_slower": "no, not faster than random",
    "lesson.faithfulness.computing": "Removing patches and running the model again…",
    "lesson.faithfulness.order": "Rollout: its highest patches go first",
    "lesson.faithfulness.curves": "probability of “{name}”",
    "lesson.faithfulness.rollout": "rollout's order (AUC {auc})",
    "lesson.faithfulness.random": "random order (AUC {auc})",
    "lesson.faithfulness.reading_faster": "On this image the probability of “{name}” falls faster in rollout's "
    "order: rollout found patches the model uses.",
    "lesson.faithfulness.reading_slower": "On this image the probability of “{name}” falls no faster in rollout's "
    "order: its ranking is no better than chance here.",
    # -- a full classroom
    "busy.coming": "Many students are opening the app at once: your view is coming ({n} views being prepared).",
    "diag.cache": "analysis cache: {used} MB of {limit} MB, analyses: {n} · views running: {running}",
}

KO: dict[str, str] = {
    "lang.label": "언어",
    "intro.name": "ViT 어텐션 탐색기",
    "intro.sentence": "비전 트랜스포머가 이미지를 읽는 방식을 봅니다: 패치, 모든 레이어와 헤드의 어텐션, 그리고 답이 "
    "어느 패치에 근거하는지.",
    "intro.what": "비전 트랜스포머(ViT, Dosovitskiy 외 2021, *An Image is Worth 16x16 Words*)는 이미지를 정사각형 "
    "패치로 자르고, 각 패치를 벡터로 바꾼 뒤, 셀프 어텐션 레이어를 거치며 모든 패치가 다른 모든 패치를 보게 합니다. 이 "
    "앱은 고른 모델과 이미지에 대해 그 단계들을 실시간으로 보여 줍니다.",
    "intro.model": "불러온 모델: **{name}**, {depth}개 레이어 × {heads}개 헤드, {ph} px 패치 {gh} × {gw}개.",
    "intro.knows_classes": "{n}개 클래스를 압니다. 이 이미지에 대한 최선의 추측은 **{top}** ({p})입니다.",
    "intro.knows_none": "분류기가 없습니다: 레이블 없이(자기 지도 학습으로) 학습되어 특징만 냅니다.",
    "intro.start": "수업 시작하기",
    "link.copy": "이 화면의 링크 복사",
    "link.how": "링크 오른쪽 버튼으로 복사하세요. 링크를 열면 이 페이지, 모델, 이미지, 설정이 그대로 보입니다.",
    "link.own_image": "직접 넣은 이미지(업로드, 카메라, 그림)는 링크로 전달되지 않습니다: 링크는 기본 샘플 이미지로 "
    "같은 화면을 엽니다.",
    "link.unknown_param": "링크의 {names}은(는) 이 앱의 설정이 아니어서 무시했습니다.",
    "link.bad_value": "링크의 {name}={value}은(는) 알 수 없는 값이라 기본값을 씁니다.",
    "link.out_of_range": "링크의 {name}={value}은(는) 이 모델의 범위 {low}–{high}를 벗어나 기본값을 씁니다.",
    "source.label": "이미지",
    "source.Sample": "샘플",
    "source.Upload": "업로드",
    "source.Camera": "카메라",
    "source.Draw": "그리기",
    "source.camera_label": "사진 찍기",
    "source.camera_hint": "브라우저의 카메라 사용을 허용한 뒤 사진을 찍으세요. 업로드와 똑같이 분석됩니다.",
    "source.pen_colour": "펜 색",
    "source.pen_width": "펜 굵기",
    "source.draw_hint": "흰 정사각형에 마우스나 손가락으로 그리세요. 그림은 업로드와 똑같이 분석됩니다.",
    "projector.toggle": "프로젝터",
    "projector.help": "강의실용으로 글자와 그림을 크게 하고 부가 조절 항목은 숨깁니다.",
    "lesson.progress": "{total}단계 중 {n}단계: {title}",
    "lesson.back": "이전",
    "lesson.next": "다음",
    "lesson.predict_first": "먼저 예측하세요: 답을 고르면 그림이 나타납니다.",
    "lesson.right": "맞았습니다: 아래 그림이 그 이유를 보여 줍니다.",
    "lesson.wrong": "아쉽네요: 답은 “{answer}”입니다. 아래 그림이 그 이유를 보여 줍니다.",
    "lesson.patches.title": "패치와 토큰 시퀀스",
    "lesson.patches.text": "**이미지 한 장은 {gh} × {gw}개의 단어입니다.** {size} px 이미지를 {ph} × {pw} px "
    "정사각형 패치 {n}개로 자르고, 문장의 단어처럼 한 줄씩 읽습니다. 그 앞에 학습된 토큰 {P}개({prefix})가 붙고, "
    "클래스 토큰의 마지막 상태가 예측을 만듭니다.",
    "lesson.patches.q": "이 이미지에 대해 트랜스포머는 토큰을 몇 개 읽을까요?",
    "lesson.embedding.title": "선형 임베딩과 그 필터",
    "lesson.embedding.text": "각 패치의 픽셀 값에 학습된 행렬 하나를 곱해 {dim}차원 토큰을 만듭니다. 그 행렬의 "
    "행이 필터이고, 주성분(논문 그림 7 왼쪽)은 CNN이 첫 레이어에서 배우는 부드러운 기저, 가장자리와 색을 잡는 기저를 "
    "닮았습니다.",
    "lesson.embedding.q": "한 패치는 {dim}차원 토큰이 되기 전에 숫자를 몇 개 담고 있을까요?",
    "lesson.position.title": "위치 임베딩",
    "lesson.position.text": "패치 자체에는 위치 정보가 없어서, 순번에 따라 학습된 벡터를 더합니다. 격자가 2차원이라고 "
    "알려 준 적이 없는데도 가까운 패치의 임베딩이 비슷해지고, 행과 열이 드러납니다(그림 7 가운데).",
    "lesson.position.q": "패치 ({row}, {col})의 위치 임베딩과 가장 비슷한 것은 어느 패치일까요?",
    "lesson.position.a_near": "바로 이웃한 패치",
    "lesson.position.a_far": "멀리 떨어진 패치",
    "lesson.position.none": "이 모델에는 학습된 위치 임베딩 표가 없습니다.",
    "lesson.attention.title": "헤드별 셀프 어텐션",
    "lesson.attention.text": "{depth}개 레이어마다 모든 토큰이 다른 모든 토큰을 봅니다. {heads}개 헤드는 저마다 보는 "
    "방식을 배웁니다. 그림은 마지막 레이어의 각 헤드에서 클래스 토큰이 어디를 보는지 보여 줍니다.",
    "lesson.attention.q": "마지막 레이어의 헤드들은 같은 패치를 볼까요?",
    "lesson.attention.a_same": "네, 대체로 같은 곳",
    "lesson.attention.a_different": "아니요, 서로 다른 곳",
    "lesson.attention.none": "이 모델에는 클래스 토큰이 없습니다. ‘패치 질의’ 페이지에서 아무 토큰이 어디를 보는지 "
    "볼 수 있습니다.",
    "lesson.distance.title": "평균 어텐션 거리",
    "lesson.distance.text": "헤드는 얼마나 멀리 볼까요? 한 패치와 그 패치가 주목하는 패치들 사이의 거리를 어텐션으로 "
    "가중 평균한 값이며, 헤드마다 점 하나입니다(그림 7 오른쪽). 첫 레이어에서부터 멀리 보는 헤드도 있고, 가까운 곳만 "
    "보는 헤드도 있습니다.",
    "lesson.distance.q": "가장 가까운 곳을 보는(거리가 가장 짧은) 헤드는 어디에 있을까요?",
    "lesson.distance.a_early": "앞쪽 절반의 레이어",
    "lesson.distance.a_late": "뒤쪽 절반의 레이어",
    "lesson.distance.axis": "평균 어텐션 거리 (픽셀)",
    "lesson.rollout.title": "어텐션 롤아웃",
    "lesson.rollout.text": "토큰이 레이어마다 섞이기 때문에 한 레이어의 어텐션만으로는 입력에 대해 알 수 있는 것이 적습니다. "
    "롤아웃(Abnar & Zuidema 2020, 논문 그림 6)은 헤드를 평균하고, 잔차 연결(단위 행렬 절반)을 더해, 레이어마다 "
    "곱합니다. 레이어를 하나씩 넘겨 보세요: 합친 인수, 누적 곱, 그리고 그 곱의 클래스 토큰 행을 이미지 위에.",
    "lesson.rollout.q": "롤아웃된 클래스 토큰은 이미지의 어느 사분면에 가장 큰 가중치를 줄까요?",
    "lesson.rollout.top_left": "왼쪽 위",
    "lesson.rollout.top_right": "오른쪽 위",
    "lesson.rollout.bottom_left": "왼쪽 아래",
    "lesson.rollout.bottom_right": "오른쪽 아래",
    "lesson.rollout.layer": "레이어",
    "lesson.rollout.factor": "레이어 {layer}: ½·헤드 평균 + ½·I",
    "lesson.rollout.product": "레이어 {layer}까지의 곱",
    "lesson.rollout.row": "레이어 {layer} 이후 클래스 토큰의 행",
    "lesson.rollout.caption": "이 레이어에서 클래스 토큰의 롤아웃 행은 접두 토큰에 {prefix}를 둡니다. 맵은 나머지를 "
    "패치 위에 보여 줍니다.",
    "lesson.relevance.title": "클래스별 관련도",
    "lesson.relevance.text": "어텐션 롤아웃은 클래스를 가리지 않습니다: 모델이 무엇이라 답하든 어텐션이 토큰을 어떻게 "
    "섞는지만 따라갑니다. 클래스별 관련도(GAE, Chefer 외 ICCV 2021)는 *한* 클래스를 뒷받침하는 패치가 어디인지 묻습니다: 각 "
    "레이어의 어텐션에 그 클래스에 대한 기울기를 곱해 양수 부분만 남기고, 잔차와 함께 레이어를 따라 롤아웃합니다. 그래서 "
    "한 번에 한 클래스만 설명합니다: 물체가 둘인 이미지에서는 클래스마다 다른 물체가 밝게 나타납니다.",
    "lesson.relevance.q_scene": "모델의 최선의 추측은 “{name}”입니다. “{name}”에 대한 관련도는 어디에서 가장 "
    "강할까요?",
    "lesson.relevance.q": "“{name}”에 대한 관련도는 이미지의 어느 사분면에 가장 큰 가중치를 줄까요?",
    "lesson.relevance.peak": "“{name}”에 대한 관련도: {verdict}.",
    "lesson.relevance.holds": "이 이미지에서는 각 클래스의 관련도가 뚜렷한 차이로 자기 물체를 밝힙니다.",
    "lesson.relevance.not_here": "이 이미지에서는 두 지도가 각자의 물체를 뚜렷한 차이(지도 범위의 {threshold} 이상)로 "
    "밝히지 않습니다: pair_triangle_ring.png 장면을 골라 보세요.",
    "lesson.relevance.quarter": "“{name}”에 대한 관련도는 {where} 사분면에서 가장 강합니다.",
    "lesson.faithfulness.title": "이 맵은 충실할까?",
    "lesson.faithfulness.text": "그럴듯해 보이는 맵도 모델이 실제로 쓴 곳을 보여 주지 않을 수 있습니다. 한 가지 검사"
    "(Chefer 외 CVPR 2021): 맵이 가장 높게 꼽은 패치 토큰부터 10%씩 지우면서 그 클래스의 확률을 따라갑니다. 맵이 모델이 "
    "기대는 패치를 찾았다면 확률이 빨리 떨어집니다. 무작위 순서가 비교 기준입니다. 곡선 아래 면적(AUC)이 이를 요약합니다: "
    "낮을수록 빨리 떨어진 것입니다.",
    "lesson.faithfulness.q": "어텐션 롤아웃이 가장 높게 꼽은 패치부터 10%씩 지우면, “{name}”의 확률은 무작위로 패치를 "
    "지울 때보다 빨리 떨어질까요?",
    "lesson.faithfulness.a_faster": "네, 무작위보다 빨리",
    "lesson.faithfulness.a_slower": "아니요, 무작위보다 빠르지 않게",
    "lesson.faithfulness.computing": "패치를 지우며 모델을 다시 실행하는 중…",
    "lesson.faithfulness.order": "롤아웃: 가장 높은 패치부터 지웁니다",
    "lesson.faithfulness.curves": "“{name}”의 확률",
    "lesson.faithfulness.rollout": "롤아웃 순서 (AUC {auc})",
    "lesson.faithfulness.random": "무작위 순서 (AUC {auc})",
    "lesson.faithfulness.reading_faster": "이 이미지에서는 롤아웃 순서로 지울 때 “{name}”의 확률이 더 빨리 떨어집니다: "
    "롤아웃이 모델이 실제로 쓰는 패치를 찾았습니다.",
    "lesson.faithfulness.reading_slower": "이 이미지에서는 롤아웃 순서로 지워도 “{name}”의 확률이 더 빨리 떨어지지 "
    "않습니다: 여기서는 롤아웃의 순위가 우연보다 낫지 않습니다.",
    # -- a full classroom
    "busy.coming": "많은 학생이 동시에 접속하고 있습니다. 화면이 곧 나타납니다({n}개 화면 준비 중).",
    "diag.cache": "분석 캐시: {limit} MB 중 {used} MB, 분석 {n}개 · 실행 중인 화면 {running}개",
}
