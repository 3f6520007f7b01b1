# Augmentation stage (issue 3): rules are added here.
