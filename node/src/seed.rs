//! The bakery's starting catalog, written once through Raft when the cluster first forms.

use confeitaria_types::{Categoria, NovoDoce};
use raft_store::Command;

fn cat(slug: &str, nome: &str) -> Categoria {
    Categoria {
        slug: slug.into(),
        nome: nome.into(),
    }
}

fn doce(
    nome: &str,
    descricao: &str,
    preco_centavos: u64,
    categoria: &str,
    estoque: u64,
) -> NovoDoce {
    NovoDoce {
        nome: nome.into(),
        descricao: descricao.into(),
        preco_centavos,
        categoria: categoria.into(),
        estoque,
        ativo: true,
    }
}

/// The seed command: five categories and twenty sweets.
pub fn starting_catalog() -> Command {
    Command::Seed {
        categorias: vec![
            cat("bolos", "Bolos"),
            cat("tortas", "Tortas"),
            cat("doces-finos", "Doces finos"),
            cat("salgados", "Salgados"),
            cat("biscoitos", "Biscoitos"),
        ],
        doces: vec![
            doce(
                "Bolo de cenoura com chocolate",
                "Fofinho, com cobertura de brigadeiro",
                4500,
                "bolos",
                12,
            ),
            doce(
                "Bolo de fubá",
                "Receita da vó, com erva-doce",
                3200,
                "bolos",
                10,
            ),
            doce("Bolo de milho", "Cremoso, de milho verde", 3500, "bolos", 8),
            doce(
                "Bolo red velvet",
                "Com recheio de cream cheese",
                8900,
                "bolos",
                5,
            ),
            doce(
                "Torta de limão",
                "Massa crocante e merengue tostado",
                6500,
                "tortas",
                6,
            ),
            doce(
                "Torta holandesa",
                "Creme, biscoito e ganache",
                7900,
                "tortas",
                4,
            ),
            doce(
                "Torta de morango",
                "Com creme de baunilha",
                7200,
                "tortas",
                5,
            ),
            doce(
                "Cheesecake de frutas vermelhas",
                "Base de biscoito amanteigado",
                8400,
                "tortas",
                4,
            ),
            doce(
                "Brigadeiro gourmet",
                "Chocolate belga 50%",
                450,
                "doces-finos",
                120,
            ),
            doce("Beijinho", "Coco fresco e cravo", 400, "doces-finos", 100),
            doce(
                "Camafeu de nozes",
                "Fondant e nozes",
                650,
                "doces-finos",
                60,
            ),
            doce(
                "Bem-casado",
                "Pão de ló com doce de leite",
                550,
                "doces-finos",
                80,
            ),
            doce("Quindim", "Gema e coco, brilhante", 700, "doces-finos", 40),
            doce("Coxinha de frango", "Com catupiry", 800, "salgados", 50),
            doce(
                "Empada de palmito",
                "Massa podre amanteigada",
                750,
                "salgados",
                40,
            ),
            doce(
                "Pão de queijo",
                "Queijo canastra, porção de 6",
                1200,
                "salgados",
                70,
            ),
            doce("Esfiha de carne", "Aberta, com limão", 650, "salgados", 45),
            doce(
                "Biscoito amanteigado",
                "Pacote de 200 g",
                1500,
                "biscoitos",
                30,
            ),
            doce(
                "Sequilho de nata",
                "Derrete na boca, 150 g",
                1300,
                "biscoitos",
                25,
            ),
            doce(
                "Cookie de chocolate",
                "Com gotas de chocolate meio amargo",
                900,
                "biscoitos",
                35,
            ),
        ],
    }
}
