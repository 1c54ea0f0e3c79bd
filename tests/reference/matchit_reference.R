# Reference values from R's MatchIt for reval's matching engine.
# Usage: Rscript matchit_reference.R OUT_DIR
#
# For each configuration this writes the matched pairs, the ATT with its cluster-robust
# SE (lm(re78 ~ treat, weights) + sandwich::vcovCL(cluster = ~subclass)) and MatchIt's
# balance table; tests/test_matching_reference_r.py compares reval with them.
#
# Why the distance is passed as a matrix: MatchIt's vector code path (nn_matchC_vec,
# used when `distance` is a propensity score) compares distances through C's integer
# abs() in the Debian build of MatchIt 4.5.1, so differences below 1 truncate to 0: it
# always takes the left neighbour and ignores calipers narrower than one unit. The
# distance-matrix path (nn_matchC) compares the true distances. We give it the same
# propensity score (glm, as distance = "glm" fits it), order the treated units largest
# first (MatchIt's default m.order), and set the caliper in the same units, so it does
# exactly what matchit(distance = "glm", link = ...) is documented to do. The vector
# path's pairs are written too (*_vector_pairs.csv) so the difference stays visible.
suppressPackageStartupMessages({
  library(MatchIt)
  library(sandwich)
})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "."
data("lalonde", package = "MatchIt")
lalonde$row <- seq_len(nrow(lalonde)) - 1L  # 0-based row numbers, as reval reports them
write.csv(lalonde, file.path(out, "lalonde.csv"), row.names = FALSE)

fml <- treat ~ age + educ + race + married + nodegree + re74 + re75
ps <- glm(fml, data = lalonde, family = binomial())
configs <- list(
  probability = list(distance = fitted(ps), caliper = NULL, link = "logit"),
  logit_caliper = list(distance = predict(ps, type = "link"), caliper = 0.2, link = "linear.logit")
)
pairs_of <- function(m, d) {
  mm <- m$match.matrix
  data.frame(treated_row = d$row[match(rownames(mm), rownames(d))],
             control_row = d$row[match(mm[, 1], rownames(d))])
}
for (name in names(configs)) {
  cfg <- configs[[name]]
  treated_first <- which(lalonde$treat == 1)[order(cfg$distance[lalonde$treat == 1], decreasing = TRUE)]
  ordered <- lalonde[c(treated_first, which(lalonde$treat == 0)), ]
  dv <- cfg$distance[c(treated_first, which(lalonde$treat == 0))]
  dmat <- abs(outer(dv[ordered$treat == 1], dv[ordered$treat == 0], "-"))
  dimnames(dmat) <- list(rownames(ordered)[ordered$treat == 1], rownames(ordered)[ordered$treat == 0])
  width <- if (is.null(cfg$caliper)) NULL else cfg$caliper * sd(cfg$distance)
  m <- matchit(fml, data = ordered, method = "nearest", distance = dmat, m.order = "data",
               caliper = width, std.caliper = FALSE, ratio = 1, replace = FALSE)
  write.csv(pairs_of(m, ordered), file.path(out, paste0("matchit_", name, "_pairs.csv")), row.names = FALSE)
  md <- match.data(m)
  fit <- lm(re78 ~ treat, data = md, weights = weights)
  vc <- vcovCL(fit, cluster = ~subclass)
  effect <- data.frame(att = unname(coef(fit)["treat"]), se = sqrt(vc["treat", "treat"]),
                       n_matched = nrow(md), caliper_width = if (is.null(width)) NA else width)
  write.csv(effect, file.path(out, paste0("matchit_", name, "_effect.csv")), row.names = FALSE)
  s <- summary(m, un = TRUE)
  balance <- data.frame(term = rownames(s$sum.all),
                        smd_before = s$sum.all[, "Std. Mean Diff."],
                        smd_after = s$sum.matched[, "Std. Mean Diff."],
                        var_ratio_before = s$sum.all[, "Var. Ratio"],
                        var_ratio_after = s$sum.matched[, "Var. Ratio"],
                        ecdf_mean_before = s$sum.all[, "eCDF Mean"],
                        ecdf_max_before = s$sum.all[, "eCDF Max"],
                        ecdf_mean_after = s$sum.matched[, "eCDF Mean"],
                        ecdf_max_after = s$sum.matched[, "eCDF Max"])
  write.csv(balance, file.path(out, paste0("matchit_", name, "_balance.csv")), row.names = FALSE)
  # the vector path, as matchit(distance = "glm") runs it
  mv <- matchit(fml, data = lalonde, method = "nearest", distance = "glm", link = cfg$link,
                caliper = cfg$caliper, ratio = 1, replace = FALSE)
  write.csv(pairs_of(mv, lalonde), file.path(out, paste0("matchit_", name, "_vector_pairs.csv")), row.names = FALSE)
}

# With replacement, MatchIt's distance-matrix path gives each treated unit its `ratio`
# closest controls at once through C++'s std::partial_sort (nn_matchC.cpp), which is not
# stable: among equally close controls the one kept is wherever the heap leaves it (here
# libstdc++'s heap; another standard library may keep another). reval takes the earliest
# row. Lalonde's 2:1 pairs with replacement, and a constructed tie that shows the rule.
pairs_of_2 <- function(m, d) {
  mm <- m$match.matrix
  data.frame(treated_row = d$row[match(rownames(mm), rownames(d))],
             control_row_1 = d$row[match(mm[, 1], rownames(d))],
             control_row_2 = d$row[match(mm[, 2], rownames(d))])
}
cfg <- configs$probability
treated_first <- which(lalonde$treat == 1)[order(cfg$distance[lalonde$treat == 1], decreasing = TRUE)]
ordered <- lalonde[c(treated_first, which(lalonde$treat == 0)), ]
dv <- cfg$distance[c(treated_first, which(lalonde$treat == 0))]
dmat <- abs(outer(dv[ordered$treat == 1], dv[ordered$treat == 0], "-"))
dimnames(dmat) <- list(rownames(ordered)[ordered$treat == 1], rownames(ordered)[ordered$treat == 0])
m <- matchit(fml, data = ordered, method = "nearest", distance = dmat, m.order = "data",
             ratio = 2, replace = TRUE)
write.csv(pairs_of_2(m, ordered), file.path(out, "matchit_probability_replace_ratio2_pairs.csv"),
          row.names = FALSE)
# a treated unit at 0.5; controls at 0.875, 0.25, 0.75 and 0.375 (0.375, 0.25, 0.25 and
# 0.125 away, in data order); a second treated unit at 0.0625 (MatchIt needs two rows in
# the matrix). Both take 0.375 and one of the tied pair: MatchIt the later row.
tie <- data.frame(treat = c(1L, 0L, 0L, 0L, 0L, 1L), x = c(0.5, 0.875, 0.25, 0.75, 0.375, 0.0625))
tie$row <- seq_len(nrow(tie)) - 1L
tmat <- abs(outer(tie$x[tie$treat == 1], tie$x[tie$treat == 0], "-"))
dimnames(tmat) <- list(rownames(tie)[tie$treat == 1], rownames(tie)[tie$treat == 0])
m <- matchit(treat ~ x, data = tie, method = "nearest", distance = tmat, ratio = 2, replace = TRUE)
write.csv(pairs_of_2(m, tie), file.path(out, "matchit_tie_replace_ratio2_pairs.csv"), row.names = FALSE)
writeLines(as.character(packageVersion("MatchIt")), file.path(out, "matchit_version.txt"))
