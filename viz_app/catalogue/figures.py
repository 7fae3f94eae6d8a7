"""Figure labels (axis and colour-bar titles, hover text) and the measured findings written beside figures.

Hover texts take plotly's placeholders as values (``row="%{customdata[1]}"``), so no entry holds a brace of its
own.
"""

EN: dict[str, str] = {
    "fig.hover_patch": "patch ({row}, {col})<br>token {token}",
    "fig.hover_value": "value {value}",
    "fig.hover_tile": "tile of patch ({row}, {col})<br>click to enlarge",
    "fig.hover_cosine": "patch ({row}, {col})<br>cosine {value}",
    "fig.hover_head": "head {head}<br>layer {layer}<br>{value}",
    "fig.hover_curve": "{name}: {y} at {x}",
    "fig.probability": "probability",
    "fig.presence": "presence probability (sigmoid)",  # short: the overview's column is narrow on a projector
    "fig.target_probability": "target probability",
    "fig.removed": "fraction of patches removed",
    "fig.attention": "attention",
    "fig.layer_head_value": "layer %{{y}}, head %{{x}}: %{{z:+.3f}}",
    "fig.attention_weight": "attention weight",
    "fig.weight": "weight",
    "fig.head": "head",
    "fig.layer": "layer",
    "fig.layer_prefix": "layer ",
    "fig.on_prefix": "on {label}",
    "fig.cosine": "cosine",
    "fig.row": "row",
    "fig.column": "column",
    "fig.patch_title": "Patch ({row}, {col})",
    "fig.depth": "network depth (layer)",
    "fig.distance_px": "mean attention distance (px)",
    # -- findings: what this model and image show, measured
    "finding.distance": "Layer 0's heads attend {low}–{high} px away (spread {spread} px); layer {last}'s "
    "{last_low}–{last_high} px (spread {last_spread} px).",
    "finding.distance_pattern": "This is the paper's pattern (Figure 7 right): early layers mix near and far heads, "
    "later layers attend globally.",
    "finding.distance_no_pattern": "The paper's pattern (near and far heads early, only far heads late) does not "
    "appear here: no early head attends markedly more locally than the last layer's.",
    "finding.position": "For this model, the most similar embedding of {share} of the patches is a grid "
    "neighbour's ({chance} if the embeddings ignored the layout); cosines range from {low} to 1.",
    "finding.position_layout": "Nearby patches have similar embeddings: the model learned the 2-D layout from 1-D "
    "positions.",
    "finding.position_none": "These embeddings hold no clear 2-D layout.",
    "finding.position_random": "These embeddings hold no clear 2-D layout (as expected of untrained, random "
    "weights).",
    "finding.no_token": "no learned token",
    "finding.one_token": "{count} learned token",
    "finding.tokens": "{count} learned tokens",
}

KO: dict[str, str] = {
    "fig.hover_patch": "패치 ({row}, {col})<br>토큰 {token}",
    "fig.hover_value": "값 {value}",
    "fig.hover_tile": "패치 ({row}, {col})의 타일<br>클릭하면 확대",
    "fig.hover_cosine": "패치 ({row}, {col})<br>코사인 {value}",
    "fig.hover_head": "헤드 {head}<br>레이어 {layer}<br>{value}",
    "fig.hover_curve": "{name}: {x}에서 {y}",
    "fig.probability": "확률",
    "fig.presence": "존재 확률(시그모이드)",
    "fig.target_probability": "목표 클래스 확률",
    "fig.removed": "제거한 패치 비율",
    "fig.attention": "어텐션",
    "fig.layer_head_value": "레이어 %{{y}}, 헤드 %{{x}}: %{{z:+.3f}}",
    "fig.attention_weight": "어텐션 가중치",
    "fig.weight": "가중치",
    "fig.head": "헤드",
    "fig.layer": "레이어",
    "fig.layer_prefix": "레이어 ",
    "fig.on_prefix": "{label}에 준 가중치",
    "fig.cosine": "코사인",
    "fig.row": "행",
    "fig.column": "열",
    "fig.patch_title": "패치 ({row}, {col})",
    "fig.depth": "네트워크 깊이 (레이어)",
    "fig.distance_px": "평균 어텐션 거리 (px)",
    "finding.distance": "레이어 0의 헤드들은 {low}–{high} px 떨어진 곳을 봅니다(범위 폭 {spread} px). 레이어 {last}의 "
    "헤드들은 {last_low}–{last_high} px입니다(범위 폭 {last_spread} px).",
    "finding.distance_pattern": "논문의 패턴(그림 7 오른쪽)이 나타납니다: 앞쪽 레이어에는 가까운 곳을 보는 헤드와 먼 곳을 "
    "보는 헤드가 섞여 있고, 뒤쪽 레이어는 전역적으로 봅니다.",
    "finding.distance_no_pattern": "논문의 패턴(앞쪽에는 가까운 헤드와 먼 헤드, 뒤쪽에는 먼 헤드만)이 여기서는 나타나지 "
    "않습니다: 마지막 레이어의 헤드보다 눈에 띄게 가까운 곳을 보는 앞쪽 헤드가 없습니다.",
    "finding.position": "이 모델에서 패치의 {share}는 가장 비슷한 임베딩이 격자상 이웃의 것입니다(임베딩이 배치를 "
    "무시한다면 {chance}). 코사인 값은 {low}에서 1 사이입니다.",
    "finding.position_layout": "가까운 패치끼리 임베딩이 비슷합니다: 모델이 1차원 위치로부터 2차원 배치를 학습했습니다.",
    "finding.position_none": "이 임베딩에는 뚜렷한 2차원 배치가 없습니다.",
    "finding.position_random": "이 임베딩에는 뚜렷한 2차원 배치가 없습니다(학습하지 않은 무작위 가중치이니 예상대로입니다).",
    "finding.no_token": "학습된 토큰 없음",
    "finding.one_token": "학습된 토큰 {count}개",
    "finding.tokens": "학습된 토큰 {count}개",
}
