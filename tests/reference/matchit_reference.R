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
writeLines(as.character(packageVersion("MatchIt")), file.path(out, "matchit_version.txt"))
