# Reference values for reval's survey models, from independent R implementations.
# Usage: Rscript survey_reference.R DIR   (reads survey_items.csv and paradigm_long.csv
# from DIR, written by tests/test_survey_reference_r.py from the sample programme).
#   - Cronbach's alpha of each battery: psych::alpha()$total$raw_alpha
#   - proportional-odds model of agreement on follow-up: MASS::polr (logistic)
suppressPackageStartupMessages({library(psych); library(MASS)})
dir <- commandArgs(trailingOnly = TRUE)[1]
items <- read.csv(file.path(dir, "survey_items.csv"))
batteries <- list(swemwbs = paste0("swemwbs_", 1:7), ucla3 = paste0("ucla_", 1:3))
alpha <- data.frame(battery = names(batteries), alpha = vapply(batteries, function(cols) {
  suppressWarnings(psych::alpha(na.omit(items[, cols]), check.keys = FALSE)$total$raw_alpha)
}, numeric(1)))
write.csv(alpha, file.path(dir, "r_alpha.csv"), row.names = FALSE)
long <- read.csv(file.path(dir, "paradigm_long.csv"))
long$agreement <- factor(long$agreement, ordered = TRUE)
fit <- polr(agreement ~ follow_up, data = long, method = "logistic", Hess = TRUE)
write.csv(data.frame(term = c("follow_up", names(fit$zeta)), value = c(coef(fit), fit$zeta)),
          file.path(dir, "r_polr.csv"), row.names = FALSE)
