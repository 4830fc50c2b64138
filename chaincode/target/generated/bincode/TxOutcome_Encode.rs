impl :: bincode :: Encode for TxOutcome
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::Applied { events }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; :: bincode :: Encode :: encode(events, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Rejected { rejection }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; :: bincode :: Encode :: encode(rejection, encoder) ?; core
                :: result :: Result :: Ok(())
            },
        }
    }
}